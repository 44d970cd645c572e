#include "kernels/rms_norm.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void RmsNormKernel(float* __restrict__ x, const T* __restrict__ bias,
                              const T* __restrict__ scale, T* __restrict__ y, int hidden,
                              float eps) {
  const int64_t row = blockIdx.x;
  float* xr = x + row * hidden;
  T* yr = y + row * hidden;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    float v = xr[i];
    if (bias != nullptr) {
      v += ToFloat(bias[i]);
      xr[i] = v;
    }
    sum_sq += v * v;
  }
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum_sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  // §5: eps is added to the RMS, outside the square root.
  const float inv = 1.f / (sqrtf(total / static_cast<float>(hidden)) + eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    yr[i] = FromFloat<T>(ToFloat(scale[i]) * (xr[i] * inv));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchRmsNorm(float* x, const T* bias, const T* scale, T* y, int64_t rows, int64_t hidden,
                           float eps, cudaStream_t stream) {
  if (x == nullptr || scale == nullptr || y == nullptr)
    return absl::InvalidArgumentError("rms_norm: null pointer");
  if (static_cast<const void*>(x) == static_cast<const void*>(y))
    return absl::InvalidArgumentError("rms_norm: y must not alias x");
  if (rows < 0 || hidden <= 0 || hidden > (1 << 20) || rows > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("rms_norm: bad shape rows=", rows, " H=", hidden));
  if (rows == 0) return absl::OkStatus();
  RmsNormKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, bias, scale, y, static_cast<int>(hidden), eps);
  RETURN_IF_LAUNCH_FAILED("rms_norm");
  return absl::OkStatus();
}

template absl::Status LaunchRmsNorm<float>(float*, const float*, const float*, float*, int64_t,
                                           int64_t, float, cudaStream_t);
template absl::Status LaunchRmsNorm<__nv_bfloat16>(float*, const __nv_bfloat16*,
                                                   const __nv_bfloat16*, __nv_bfloat16*, int64_t,
                                                   int64_t, float, cudaStream_t);

}  // namespace evo2::kernels
