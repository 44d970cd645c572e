#include "kernels/embedding.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"

namespace evo2::kernels {
namespace {

template <typename T>
__global__ void EmbeddingKernel(const int32_t* __restrict__ ids, const T* __restrict__ table,
                                T* __restrict__ out, int hidden, int vocab) {
  const int64_t row = blockIdx.x;
  int id = ids[row];
  id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
  const T* src = table + static_cast<int64_t>(id) * hidden;
  T* dst = out + row * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

template <typename T>
absl::Status LaunchEmbedding(const int32_t* ids, const T* table, T* out, int64_t rows,
                             int64_t hidden, int64_t vocab, cudaStream_t stream) {
  if (ids == nullptr || table == nullptr || out == nullptr)
    return absl::InvalidArgumentError("embedding: null pointer");
  if (rows < 0 || rows > INT32_MAX || hidden <= 0 || vocab <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat("embedding: bad shape rows=", rows, " H=", hidden, " vocab=", vocab));
  if (rows == 0) return absl::OkStatus();
  EmbeddingKernel<T><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
      ids, table, out, static_cast<int>(hidden), static_cast<int>(vocab));
  RETURN_IF_LAUNCH_FAILED("embedding");
  return absl::OkStatus();
}

template absl::Status LaunchEmbedding<float>(const int32_t*, const float*, float*, int64_t, int64_t,
                                             int64_t, cudaStream_t);
template absl::Status LaunchEmbedding<__nv_bfloat16>(const int32_t*, const __nv_bfloat16*,
                                                     __nv_bfloat16*, int64_t, int64_t, int64_t,
                                                     cudaStream_t);

}  // namespace evo2::kernels
