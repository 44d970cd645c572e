// The cuda entries in the backend registry (evo2/backend_registry.h, evo2/cuda_backend.h): the
// Evo 2 family here, the Llama family from cuda/llama/, the NemotronH (Mamba-2 hybrid) family
// from cuda/nemotron_h/.
#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_weights.h"
#include "cuda/llama/llama_cuda_loader.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "evo2/backend_registry.h"
#include "evo2/cuda_backend.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2 {
namespace {

absl::StatusOr<std::unique_ptr<Model>> MakeCudaModel(const ModelConfig& config,
                                                     Checkpoint checkpoint,
                                                     const LoadOptions& options) {
  // Every Precision is available here: bf16 by default, fp32 for checking against references.
  const DType act = options.precision == Precision::kFp32 ? DType::kFloat32 : DType::kBFloat16;
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return absl::UnimplementedError(absl::StrCat(
        "the cuda backend runs on one GPU; tensor/context parallel sizes and --devices must be 1 "
        "(got TP=", options.tensor_parallel_size, ", CP=", options.context_parallel_size,
        ", devices=", options.devices, "); engine groups run on --device cpu for now"));
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
