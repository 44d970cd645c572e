#include "kernels/rms_norm.cuh"

#include <cuda_bf16.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;

// 1 / (RMS + eps) of the row whose per-thread partial sums of squares the kThreads threads hold
// (every thread gets the result). §5: eps is added to the RMS, outside the square root.
__device__ __forceinline__ float BlockInvRms(float sum_sq, int hidden, float eps) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum_sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  return 1.f / (sqrtf(total / static_cast<float>(hidden)) + eps);
}

template <typename T>
__global__ void RmsNormKernel(float* __restrict__ x, const T* __restrict__ bias,
                              const T* __restrict__ scale, T* __restrict__ y, int hidden,
                              float eps) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
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
  const float inv = BlockInvRms(sum_sq, hidden, eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    yr[i] = FromFloat<T>(ToFloat(scale[i]) * (xr[i] * inv));
  }
}

// Loads and stores 4 elements at a time; one float4 per thread per 1 024 channels.
template <typename T>
struct Vec4;
template <>
struct Vec4<float> {
  using type = float4;
  __device__ static float4 Load(const float* p) { return *reinterpret_cast<const float4*>(p); }
  __device__ static void Store(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
};
template <>
struct Vec4<__nv_bfloat16> {
  __device__ static float4 Load(const __nv_bfloat16* p) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
  }
  __device__ static void Store(__nv_bfloat16* p, float4 v) {
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 raw;
    raw.x = *reinterpret_cast<const uint32_t*>(&lo);
    raw.y = *reinterpret_cast<const uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(p) = raw;
  }
};

// v2: the row stays in registers between the sum of squares and the scaling (kChunks float4
// per thread), with 16-byte loads of x and 8-byte loads/stores of the bf16 vectors — v1 read x
// twice with 4-byte loads and reached 45–67 % of the copy rate (kernels/NOTES.md). Same
// arithmetic per element as v1; only the order of the sum of squares differs.
template <typename T, int kChunks>
__global__ void __launch_bounds__(kThreads)
    RmsNormRowInRegistersKernel(float* __restrict__ x, const T* __restrict__ bias,
                                const T* __restrict__ scale, T* __restrict__ y, int hidden,
                                float eps) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int64_t row = blockIdx.x;
  float* xr = x + row * hidden;
  T* yr = y + row * hidden;
  const int n4 = hidden / 4;
  float4 v[kChunks];
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    const int i = threadIdx.x + j * kThreads;
    v[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (i < n4) {
      v[j] = Vec4<float>::Load(xr + 4 * i);
      if (bias != nullptr) {
        const float4 b = Vec4<T>::Load(bias + 4 * i);
        v[j].x += b.x; v[j].y += b.y; v[j].z += b.z; v[j].w += b.w;
        Vec4<float>::Store(xr + 4 * i, v[j]);
      }
      sum_sq += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
  }
  const float inv = BlockInvRms(sum_sq, hidden, eps);
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i < n4) {
      const float4 w = Vec4<T>::Load(scale + 4 * i);
      Vec4<T>::Store(yr + 4 * i, make_float4(w.x * (v[j].x * inv), w.y * (v[j].y * inv),
                                             w.z * (v[j].z * inv), w.w * (v[j].w * inv)));
    }
  }
}

bool Aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

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
  const int chunks = static_cast<int>((hidden / 4 + kThreads - 1) / kThreads);
  if (hidden % 4 == 0 && chunks <= 8 && Aligned(x, 16) && Aligned(scale, 4 * sizeof(T)) &&
      Aligned(y, 4 * sizeof(T)) && (bias == nullptr || Aligned(bias, 4 * sizeof(T)))) {
    const unsigned grid = static_cast<unsigned>(rows);
    const int h = static_cast<int>(hidden);
    if (chunks <= 1) {
      RmsNormRowInRegistersKernel<T, 1><<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps);
    } else if (chunks <= 2) {
      RmsNormRowInRegistersKernel<T, 2><<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps);
    } else if (chunks <= 4) {
      RmsNormRowInRegistersKernel<T, 4><<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps);
    } else {
      RmsNormRowInRegistersKernel<T, 8><<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps);
    }
    RETURN_IF_LAUNCH_FAILED("rms_norm");
    return absl::OkStatus();
  }
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
