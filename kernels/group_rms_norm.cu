#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/group_rms_norm.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ float Gated(const float* x, const T* gate, int64_t c) {
  float v = x[c];
  if (gate != nullptr) {
    const float z = ToFloat(gate[c]);
    v *= z / (1.f + expf(-z));
  }
  return v;
}

// One block per (row, group); the second pass re-reads the group from L1/L2.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    GroupRmsNormKernel(const float* __restrict__ x, int64_t ld_x, const T* __restrict__ gate,
                       int64_t ld_gate, const T* __restrict__ w, T* __restrict__ out,
                       int64_t ld_out, int group_size, float eps) {
  const int64_t row = blockIdx.x;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * group_size;
  const float* xr = x + row * ld_x;
  const T* gr = gate != nullptr ? gate + row * ld_gate : nullptr;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < group_size; i += kThreads) {
    const float v = Gated(xr, gr, c0 + i);
    sum_sq += v * v;
  }
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum_sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int k = 0; k < kThreads / 32; ++k) total += partial[k];
  const float inv = rsqrtf(total / static_cast<float>(group_size) + eps);
  T* orow = out + row * ld_out;
  for (int i = threadIdx.x; i < group_size; i += kThreads) {
    const int64_t c = c0 + i;
    orow[c] = FromFloat<T>(ToFloat(w[c]) * (Gated(xr, gr, c) * inv));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchGroupRmsNorm(const float* x, int64_t ld_x, const T* gate, int64_t ld_gate,
                                const T* w, T* out, int64_t ld_out, int64_t rows, int64_t width,
                                int64_t group_size, float eps, cudaStream_t stream) {
  if (x == nullptr || w == nullptr || out == nullptr)
    return absl::InvalidArgumentError("group_rms_norm: null pointer");
  if (static_cast<const void*>(x) == static_cast<const void*>(out))
    return absl::InvalidArgumentError("group_rms_norm: out must not alias x");
  if (rows < 0 || width <= 0 || group_size <= 0 || width % group_size != 0 || ld_x < width ||
      ld_out < width || (gate != nullptr && ld_gate < width) || rows > INT32_MAX ||
      width / group_size > 65535 || group_size > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("group_rms_norm: bad shape rows=", rows,
                                                   " width=", width, " group=", group_size));
  if (rows == 0) return absl::OkStatus();
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(width / group_size));
  GroupRmsNormKernel<T><<<grid, kThreads, 0, stream>>>(x, ld_x, gate, ld_gate, w, out, ld_out,
                                                       static_cast<int>(group_size), eps);
  RETURN_IF_LAUNCH_FAILED("group_rms_norm");
  return absl::OkStatus();
}

template absl::Status LaunchGroupRmsNorm<float>(const float*, int64_t, const float*, int64_t,
                                                const float*, float*, int64_t, int64_t, int64_t,
                                                int64_t, float, cudaStream_t);
template absl::Status LaunchGroupRmsNorm<__nv_bfloat16>(const float*, int64_t, const __nv_bfloat16*,
                                                        int64_t, const __nv_bfloat16*,
                                                        __nv_bfloat16*, int64_t, int64_t, int64_t,
                                                        int64_t, float, cudaStream_t);

}  // namespace evo2::kernels
