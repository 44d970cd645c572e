// The cuda entries in the backend registry (evo2/backend_registry.h, evo2/cuda_backend.h): the
// Evo 2 family here, the Llama family from cuda/llama/, the NemotronH (Mamba-2 hybrid) family
// from cuda/nemotron_h/.
#include <cuda_runtime.h>

#include <cstdlib>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_weights.h"
#include "cuda/engine_group/cuda_engine_group_model.h"
#include "cuda/engine_group/rank_placement.h"
#include "cuda/in_process_device_communicator.h"
#include "cuda/llama/llama_cuda_loader.h"
#include "cuda/nccl_communicator.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "evo2/backend_registry.h"
#include "evo2/cuda_backend.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "parallel/group_layout.h"

namespace evo2 {
namespace {

// Ranks one process drives at most (a host thread, stream and scratch each).
constexpr int kMaxCudaRanks = 64;

// A TP × CP × DP engine group (docs/parallelism.md §7): rank placement by GPU count and
// EVO2_CUDA_GROUP, each TP shard uploaded from the host tensors onto the GPUs that need it.
absl::StatusOr<std::unique_ptr<Model>> MakeCudaEngineGroup(const ModelConfig& config,
                                                           const Checkpoint& checkpoint,
                                                           const LoadOptions& options, DType act) {
  ASSIGN_OR_RETURN(
      const parallel::GroupLayout layout,
      parallel::MakeGroupLayout(config, options.tensor_parallel_size, options.context_parallel_size,
                                options.devices, kMaxCudaRanks));
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
  const char* env = std::getenv("EVO2_CUDA_GROUP");
  ASSIGN_OR_RETURN(
      cuda::GroupPlacement placement,
      cuda::PlaceGroup(layout, gpus,
                       env != nullptr ? std::optional<std::string_view>(env) : std::nullopt));
  const bool one_gpu = placement.one_gpu;
  const int tp = layout.tp, cp = layout.cp;
  auto weights = [&](cuda::TensorParallelShard shard) -> absl::StatusOr<cuda::DeviceWeights> {
    auto w = cuda::DeviceWeights::Upload(config, checkpoint.tensors, act, shard);
    if (!w.ok())
      return absl::Status(w.status().code(),
                          absl::StrCat(checkpoint.path.string(), ": ", w.status().message()));
    return w;
  };
  auto groups =
      [one_gpu, tp,
       cp](std::span<const int> devices) -> absl::StatusOr<std::unique_ptr<cuda::DeviceGroup>> {
    const std::vector<int> d(devices.begin(), devices.end());
    ASSIGN_OR_RETURN(cuda::DeviceGroup g, one_gpu ? cuda::MakeInProcessDeviceGroup(d, tp, cp)
                                                  : cuda::MakeNcclDeviceGroup(d, tp, cp));
    return std::make_unique<cuda::DeviceGroup>(std::move(g));
  };
  ASSIGN_OR_RETURN(auto model, cuda::CudaEngineGroupModel::Create(
                                   config, layout, std::move(placement), weights, std::move(groups),
                                   {.mode = options.fp8, .stored = &checkpoint.fp8_scales}));
  return std::unique_ptr<Model>(std::move(model));
}

absl::StatusOr<std::unique_ptr<Model>> MakeCudaModel(const ModelConfig& config,
                                                     Checkpoint checkpoint,
                                                     const LoadOptions& options) {
  // Every Precision is available here: bf16 by default, fp32 for checking against references.
  const DType act = options.precision == Precision::kFp32 ? DType::kFloat32 : DType::kBFloat16;
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return MakeCudaEngineGroup(config, checkpoint, options, act);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    return absl::FailedPreconditionError("device 'cuda' requested but no CUDA GPU is present");
  auto weights = cuda::DeviceWeights::Upload(config, checkpoint.tensors, act);
  if (!weights.ok())
    return absl::Status(weights.status().code(),
                        absl::StrCat(checkpoint.path.string(), ": ", weights.status().message()));
  checkpoint.tensors.clear();  // host copies no longer needed
  if (options.fp8 != Fp8Mode::kOff) {
    // Quantised on a temporary stream; AddFp8Copies waits for it.
    cudaStream_t stream = nullptr;
    CUDA_RETURN_IF_ERROR(cudaStreamCreate(&stream));
    const absl::Status s =
        weights->AddFp8Copies(config, options.fp8, checkpoint.fp8_scales, stream);
    cudaStreamDestroy(stream);
    RETURN_IF_ERROR(s);
  }
  ASSIGN_OR_RETURN(auto model, cuda::CudaModel::Create(config, std::move(*weights)));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace

void RegisterCudaBackend() {
  RegisterBackend(Device::kCuda, MakeCudaModel);
  RegisterModelLoader(ModelFamily::kLlama, Device::kCuda, cuda::LoadLlamaCudaModel);
  RegisterModelLoader(ModelFamily::kNemotronH, Device::kCuda, cuda::LoadNemotronHCudaModel);
}

int CudaDeviceCount() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) return 0;
  return devices;
}

}  // namespace evo2
