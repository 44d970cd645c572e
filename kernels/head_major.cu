#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/head_major.cuh"

namespace evo2::kernels {
namespace {

// One thread per destination element, in destination order (coalesced stores; the loads are
// runs of d contiguous elements).
template <typename T>
__global__ void ToHeadMajorKernel(const T* __restrict__ src, int64_t ld_src, T* __restrict__ dst,
                                  int64_t dst_heads, int64_t repeat, int64_t seq, int64_t d,
                                  int64_t d_dst, float scale, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t e = i % d_dst, t = (i / d_dst) % seq, h = (i / (d_dst * seq)) % dst_heads,
                  b = i / (d_dst * seq * dst_heads);
    if (e >= d) {
      dst[i] = FromFloat<T>(0.f);
    } else if (scale == 1.f) {
      dst[i] = src[(b * seq + t) * ld_src + (h / repeat) * d + e];
    } else {
      dst[i] = FromFloat<T>(scale * ToFloat(src[(b * seq + t) * ld_src + (h / repeat) * d + e]));
    }
  }
}

}  // namespace

template <typename T>
absl::Status LaunchToHeadMajor(const T* src, int64_t ld_src, int64_t src_heads, T* dst,
                               int64_t dst_heads, int64_t batch, int64_t seq, int64_t head_dim,
                               cudaStream_t stream, int64_t dst_head_dim, float scale) {
  if (dst_head_dim == 0) dst_head_dim = head_dim;
  if (src == nullptr || dst == nullptr)
    return absl::InvalidArgumentError("head_major: null pointer");
  if (batch < 0 || seq < 0 || src_heads <= 0 || dst_heads <= 0 || head_dim <= 0 ||
      dst_heads % src_heads != 0 || ld_src < src_heads * head_dim || dst_head_dim < head_dim)
    return absl::InvalidArgumentError(
        absl::StrCat("head_major: bad shape src_heads=", src_heads, " dst_heads=", dst_heads,
                     " d=", head_dim, " d_dst=", dst_head_dim, " ld_src=", ld_src,
                     " (dst_heads must be a multiple of src_heads, d_dst at least d)"));
  const int64_t n = batch * dst_heads * seq * dst_head_dim;
  if (n == 0) return absl::OkStatus();
  const int64_t blocks = (n + 255) / 256;
  ToHeadMajorKernel<T><<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(
      src, ld_src, dst, dst_heads, dst_heads / src_heads, seq, head_dim, dst_head_dim, scale, n);
  RETURN_IF_LAUNCH_FAILED("head_major");
  return absl::OkStatus();
}

template absl::Status LaunchToHeadMajor<float>(const float*, int64_t, int64_t, float*, int64_t,
                                               int64_t, int64_t, int64_t, cudaStream_t, int64_t,
                                               float);
template absl::Status LaunchToHeadMajor<__nv_bfloat16>(const __nv_bfloat16*, int64_t, int64_t,
                                                       __nv_bfloat16*, int64_t, int64_t, int64_t,
                                                       int64_t, cudaStream_t, int64_t, float);

}  // namespace evo2::kernels
