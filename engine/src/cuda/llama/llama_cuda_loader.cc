#include "cuda/llama/llama_cuda_loader.h"

#include <cuda_runtime.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "cuda/llama/llama_cuda_model.h"
#include "cuda/llama/llama_cuda_weights.h"
#include "evo2/status_macros.h"
#include "hf/hf_checkpoint.h"
#include "hf/llama_config.h"

namespace evo2::cuda {

absl::StatusOr<std::unique_ptr<Model>> LoadLlamaCudaModel(const LoadOptions& options) {
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return absl::UnimplementedError(absl::StrCat(
        "the Llama family runs on one GPU; tensor/context parallel sizes and --devices must be 1 "
        "(got TP=",
        options.tensor_parallel_size, ", CP=", options.context_parallel_size,
        ", devices=", options.devices, ")"));
  if (options.fp8 != Fp8Mode::kOff)
    return absl::UnimplementedError(
        absl::StrCat("--fp8 (", Fp8ModeName(options.fp8), "): the Llama family has no FP8 path"));
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    return absl::FailedPreconditionError("device 'cuda' requested but no CUDA GPU is present");
  const DType act = options.precision == Precision::kFp32 ? DType::kFloat32 : DType::kBFloat16;
  ASSIGN_OR_RETURN(hf::HfCheckpoint ckpt, hf::LoadHfCheckpoint(options.checkpoint));
  ASSIGN_OR_RETURN(hf::LlamaConfig config, hf::ParseLlamaConfig(ckpt));
  // Errors name the checkpoint and tensor (hf/llama_weights.h) or the failed allocation.
  ASSIGN_OR_RETURN(LlamaDeviceWeights weights, LlamaDeviceWeights::Upload(config, ckpt, act));
  ckpt.tensors.clear();  // the host copies are no longer needed
  ASSIGN_OR_RETURN(auto model, LlamaCudaModel::Create(std::move(config), std::move(weights)));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evo2::cuda
