#include "cpu/register_cpu_backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/cpu_model.h"
#include "cpu/cpu_weights.h"
#include "evo2/status_macros.h"

namespace evo2::cpu {

BackendFactory MakeCpuBackendFactory() {
  return [](const ModelConfig& config, Checkpoint checkpoint,
            const LoadOptions& options) -> absl::StatusOr<std::unique_ptr<Model>> {
    if (options.precision != Precision::kDefault && options.precision != Precision::kFp32) {
      return absl::InvalidArgumentError(
          absl::StrCat("the cpu backend computes in fp32; precision '",
                       PrecisionName(options.precision), "' is not available"));
    }
    if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the cpu backend runs on one device; tensor/context parallel sizes must be 1 (got ",
          options.tensor_parallel_size, " x ", options.context_parallel_size, ")"));
    }
    ASSIGN_OR_RETURN(auto weights, LoadWeights(config, checkpoint.tensors));
    checkpoint.tensors.clear();  // release the bf16 copies / mappings before running
    QuantizeLinearsE4M3(options.fp8, weights);
    CpuOptions cpu;
    cpu.threads = options.threads;
    cpu.fp8 = options.fp8;
    return std::unique_ptr<Model>(new CpuModel(config, std::move(weights), cpu));
  };
}

}  // namespace evo2::cpu
