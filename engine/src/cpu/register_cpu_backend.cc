#include "cpu/register_cpu_backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/cpu_model.h"
#include "cpu/cpu_weights.h"
#include "evo2/status_macros.h"
#include "parallel/engine_group_model.h"
#include "parallel/group_layout.h"

namespace evo2::cpu {

BackendFactory MakeCpuBackendFactory() {
  return [](const ModelConfig& config, Checkpoint checkpoint,
            const LoadOptions& options) -> absl::StatusOr<std::unique_ptr<Model>> {
    if (options.precision != Precision::kDefault && options.precision != Precision::kFp32) {
      return absl::InvalidArgumentError(
          absl::StrCat("the cpu backend computes in fp32; precision '",
                       PrecisionName(options.precision), "' is not available"));
    }
    // Engine groups (TP/CP ranks, DP replicas as threads): parallel/engine_group_model.h.
    ASSIGN_OR_RETURN(const parallel::GroupLayout layout,
                     parallel::MakeGroupLayout(config, options.tensor_parallel_size,
                                               options.context_parallel_size, options.devices));
    ASSIGN_OR_RETURN(auto weights, LoadWeights(config, checkpoint.tensors));
    checkpoint.tensors.clear();  // release the bf16 copies / mappings before running
    if (layout.devices() > 1) {
      if (options.fp8 != Fp8Mode::kOff) {
        return absl::UnimplementedError(
            "--fp8/--full-fp8 with an engine group (tensor/context parallel size or --devices above 1) is not "
            "implemented on the cpu backend; run FP8 on one rank");
      }
      return std::unique_ptr<Model>(
          new parallel::EngineGroupModel(config, std::move(weights), layout, options.threads));
    }
    RETURN_IF_ERROR(QuantizeLinearsE4M3(options.fp8, checkpoint.fp8_scales, weights));
    CpuOptions cpu;
    cpu.threads = options.threads;
    cpu.fp8 = options.fp8;
    return std::unique_ptr<Model>(new CpuModel(config, std::move(weights), cpu));
  };
}

}  // namespace evo2::cpu
