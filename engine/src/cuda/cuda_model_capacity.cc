// What the CUDA backend tells evo2/record_capacity.h: the working memory of a one-record forward
// from the workspace plan its Forward allocates (one memory model, cuda/workspace.h), and the
// device memory such a forward could use now. Not in the plan: the cuDNN attention workspace,
// which grows per shape and whose size only cuDNN knows once it builds the plan
// (cudnn_attention.h); on cuDNN builds the answer is optimistic by that much.
#include <cuda_runtime.h>

#include "cuda/cuda_model.h"

namespace evo2::cuda {

std::optional<int64_t> CudaModel::ForwardWorkingBytes(int64_t tokens,
                                                      const ForwardOptions& /*options*/) const {
  return static_cast<int64_t>(PlanWorkspace(config_, weights_.act_dtype, 1, tokens).total());
}

std::optional<int64_t> CudaModel::FreeWorkingMemoryBytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    (void)cudaGetLastError();  // a failed query must not surface as the next call's error
    return std::nullopt;
  }
  // A larger workspace replaces the current one (Workspace::Ensure frees first).
  return static_cast<int64_t>(free_bytes + workspace_.bytes());
}

}  // namespace evo2::cuda
