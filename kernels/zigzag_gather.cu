#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/zigzag_gather.cuh"

namespace evo2::kernels {
namespace {

// One thread per word W of the output (flat, so short rows still fill whole warps).
template <typename W>
__global__ void ZigzagToNaturalKernel(const W* __restrict__ gathered, W* __restrict__ natural,
                                      int cp, int heads, int chunk_len, int width, int64_t total) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int64_t row = idx / width;  // h · (2CP·Lc) + position
  const int i = static_cast<int>(idx - row * width);
  const int64_t seq = 2LL * cp * chunk_len;
  const int h = static_cast<int>(row / seq);
  const int pos = static_cast<int>(row - h * seq);
  const int k = pos / chunk_len, t = pos - k * chunk_len;
  const int owner = k < cp ? k : 2 * cp - 1 - k;
  const int slot = k < cp ? 0 : 1;
  const int64_t src_row = ((static_cast<int64_t>(owner) * 2 + slot) * heads + h) * chunk_len + t;
  natural[idx] = gathered[src_row * width + i];
}

template <typename W>
absl::Status Launch(const void* gathered, void* natural, int64_t cp, int64_t heads,
                    int64_t chunk_len, int64_t width, cudaStream_t stream) {
  const int64_t total = heads * 2 * cp * chunk_len * width;
  constexpr int kThreads = 256;
  ZigzagToNaturalKernel<W>
      <<<static_cast<unsigned>((total + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
          static_cast<const W*>(gathered), static_cast<W*>(natural), static_cast<int>(cp),
          static_cast<int>(heads), static_cast<int>(chunk_len), static_cast<int>(width), total);
  RETURN_IF_LAUNCH_FAILED("zigzag_to_natural");
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status LaunchZigzagToNatural(const T* gathered, T* natural, int64_t cp, int64_t heads,
                                   int64_t chunk_len, int64_t head_dim, cudaStream_t stream) {
  if (gathered == nullptr || natural == nullptr)
    return absl::InvalidArgumentError("zigzag_to_natural: null pointer");
  if (cp <= 0 || heads <= 0 || chunk_len < 0 || head_dim <= 0 || head_dim > 65536 ||
      2 * cp * chunk_len > INT32_MAX ||
      heads * 2 * cp * chunk_len * head_dim > (int64_t{1} << 38))  // grid-size limit
    return absl::InvalidArgumentError(absl::StrCat("zigzag_to_natural: bad shape CP=", cp,
                                                   " heads=", heads, " Lc=", chunk_len,
                                                   " d=", head_dim));
  if (chunk_len == 0) return absl::OkStatus();
  const int64_t row_bytes = head_dim * static_cast<int64_t>(sizeof(T));
  const bool vec16 = row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(gathered) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(natural) % 16 == 0;
  if (vec16) return Launch<uint4>(gathered, natural, cp, heads, chunk_len, row_bytes / 16, stream);
  return Launch<T>(gathered, natural, cp, heads, chunk_len, head_dim, stream);
}

template absl::Status LaunchZigzagToNatural<float>(const float*, float*, int64_t, int64_t, int64_t,
                                                   int64_t, cudaStream_t);
template absl::Status LaunchZigzagToNatural<__nv_bfloat16>(const __nv_bfloat16*, __nv_bfloat16*,
                                                           int64_t, int64_t, int64_t, int64_t,
                                                           cudaStream_t);

}  // namespace evo2::kernels
