#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/rms_norm_eps_inside.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

// One block per row. The row is read twice (sum of squares, then scaling); at H = 4096 it is
// 16 KB and the second read hits L1/L2.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    RmsNormEpsInsideKernel(const float* __restrict__ x, const T* __restrict__ scale,
                           T* __restrict__ y, int hidden, float eps) {
  __shared__ float partial[kThreads / 32];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * hidden;
  T* yr = y + static_cast<int64_t>(blockIdx.x) * hidden;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) sum_sq = fmaf(xr[i], xr[i], sum_sq);
  for (int off = 16; off > 0; off >>= 1) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum_sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  const float inv = rsqrtf(total / static_cast<float>(hidden) + eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads)
    yr[i] = FromFloat<T>(ToFloat(scale[i]) * (xr[i] * inv));
}

}  // namespace

template <typename T>
absl::Status LaunchRmsNormEpsInside(const float* x, const T* scale, T* y, int64_t rows,
                                    int64_t hidden, float eps, cudaStream_t stream) {
  if (x == nullptr || scale == nullptr || y == nullptr)
    return absl::InvalidArgumentError("rms_norm_eps_inside: null pointer");
  if (rows < 0 || hidden <= 0 || rows > INT32_MAX || hidden > INT32_MAX || !(eps >= 0.f))
    return absl::InvalidArgumentError(
        absl::StrCat("rms_norm_eps_inside: bad shape rows=", rows, " H=", hidden, " eps=", eps));
  if (rows == 0) return absl::OkStatus();
  RmsNormEpsInsideKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, scale, y, static_cast<int>(hidden), eps);
  RETURN_IF_LAUNCH_FAILED("rms_norm_eps_inside");
  return absl::OkStatus();
}

template absl::Status LaunchRmsNormEpsInside<float>(const float*, const float*, float*, int64_t,
                                                    int64_t, float, cudaStream_t);
template absl::Status LaunchRmsNormEpsInside<__nv_bfloat16>(const float*, const __nv_bfloat16*,
                                                            __nv_bfloat16*, int64_t, int64_t, float,
                                                            cudaStream_t);

}  // namespace evo2::kernels
