#include "kernels/rms_norm.cuh"

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/e4m3.cuh"
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

// kE4M3: the output also (or only, when y is null) goes out as E4M3 codes of the T-rounded y with
// the per-row scale rule of fp8_quantize.cuh; y is recomputed per pass (same expression, so the
// same value) since this fallback has no room for the row.
template <typename T, bool kE4M3>
__global__ void RmsNormKernel(float* __restrict__ x, const T* __restrict__ bias,
                              const T* __restrict__ scale, T* __restrict__ y, int hidden, float eps,
                              E4M3RowsOut e4m3) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int64_t row = blockIdx.x;
  float* xr = x + row * hidden;
  T* yr = y == nullptr ? nullptr : y + row * hidden;
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
  float amax = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    const float out = ToFloat(scale[i]) * (xr[i] * inv);
    if (yr != nullptr) yr[i] = FromFloat<T>(out);
    if constexpr (kE4M3) amax = AbsMax(amax, Round<T>(out));
  }
  if constexpr (kE4M3) {
    const float s = e4m3.fixed_scale > 0.0f ? e4m3.fixed_scale
                                            : E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));
    uint8_t* qr = e4m3.codes + row * e4m3.ldq;
    for (int64_t k = threadIdx.x; k < e4m3.ldq; k += kThreads)
      qr[k] = k < hidden ? ToE4M3(Round<T>(ToFloat(scale[k]) * (xr[k] * inv)) * s) : 0;
    if (threadIdx.x == 0) e4m3.inv_scale[row] = 1.0f / s;
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
// kE4M3: the T-rounded outputs stay in the registers for the row's amax, then go out as 4-byte
// groups of E4M3 codes (y written too unless null) — the quantisation pass of the FP8 linear that
// reads this output, without its read of [rows, H] (and without y's write when y is null).
template <typename T, int kChunks, bool kE4M3>
__global__ void __launch_bounds__(kThreads)
    RmsNormRowInRegistersKernel(float* __restrict__ x, const T* __restrict__ bias,
                                const T* __restrict__ scale, T* __restrict__ y, int hidden,
                                float eps, E4M3RowsOut e4m3) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int64_t row = blockIdx.x;
  float* xr = x + row * hidden;
  T* yr = y == nullptr ? nullptr : y + row * hidden;
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
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    const int i = threadIdx.x + j * kThreads;
    if (i < n4) {
      const float4 w = Vec4<T>::Load(scale + 4 * i);
      const float4 out = make_float4(w.x * (v[j].x * inv), w.y * (v[j].y * inv),
                                     w.z * (v[j].z * inv), w.w * (v[j].w * inv));
      if (yr != nullptr) Vec4<T>::Store(yr + 4 * i, out);
      if constexpr (kE4M3) {
        v[j] = make_float4(Round<T>(out.x), Round<T>(out.y), Round<T>(out.z), Round<T>(out.w));
        amax = AbsMax(AbsMax(AbsMax(AbsMax(amax, v[j].x), v[j].y), v[j].z), v[j].w);
      }
    }
  }
  if constexpr (kE4M3) {
    const float s = e4m3.fixed_scale > 0.0f ? e4m3.fixed_scale
                                            : E4M3ScaleForAmax(BlockMaxNonNegative<kThreads>(amax));
    uint8_t* qr = e4m3.codes + row * e4m3.ldq;
    // 4-byte code stores where every row starts 4-byte aligned; else byte stores (the kernel
    // choice must not depend on the code layout: it sets the sum-of-squares order, hence y).
    const bool by_word =
        e4m3.ldq % 4 == 0 && reinterpret_cast<uintptr_t>(e4m3.codes) % 4 == 0;  // uniform
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
      const int i = threadIdx.x + j * kThreads;
      if (i < n4) {
        if (by_word) {
          *reinterpret_cast<uint32_t*>(qr + 4 * i) = ToE4M3x4(v[j], s);
        } else {
          qr[4 * i] = ToE4M3(v[j].x * s);
          qr[4 * i + 1] = ToE4M3(v[j].y * s);
          qr[4 * i + 2] = ToE4M3(v[j].z * s);
          qr[4 * i + 3] = ToE4M3(v[j].w * s);
        }
      }
    }
    for (int64_t k = hidden + threadIdx.x; k < e4m3.ldq; k += kThreads) qr[k] = 0;
    if (threadIdx.x == 0) e4m3.inv_scale[row] = 1.0f / s;
  }
}

bool Aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Both entry points: e4m3 == nullptr is the plain norm (y required).
template <typename T>
absl::Status Launch(float* x, const T* bias, const T* scale, T* y, const E4M3RowsOut* e4m3,
                    int64_t rows, int64_t hidden, float eps, cudaStream_t stream) {
  const char* name = e4m3 == nullptr ? "rms_norm" : "rms_norm_e4m3";
  if (x == nullptr || scale == nullptr || (y == nullptr && e4m3 == nullptr))
    return absl::InvalidArgumentError(absl::StrCat(name, ": null pointer"));
  if (static_cast<const void*>(x) == static_cast<const void*>(y))
    return absl::InvalidArgumentError(absl::StrCat(name, ": y must not alias x"));
  if (rows < 0 || hidden <= 0 || hidden > (1 << 20) || rows > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad shape rows=", rows, " H=", hidden));
  if (e4m3 != nullptr) {
    if (e4m3->codes == nullptr || e4m3->inv_scale == nullptr)
      return absl::InvalidArgumentError("rms_norm_e4m3: null codes or scales");
    if (e4m3->ldq < hidden)
      return absl::InvalidArgumentError(
          absl::StrCat("rms_norm_e4m3: code row width ", e4m3->ldq, " < H=", hidden));
  }
  if (rows == 0) return absl::OkStatus();
  const E4M3RowsOut out = e4m3 == nullptr ? E4M3RowsOut{} : *e4m3;
  const int chunks = static_cast<int>((hidden / 4 + kThreads - 1) / kThreads);
  // The same choice for both entry points (a null y counts as aligned), so that the fused norm
  // computes y exactly as LaunchRmsNorm does.
  if (hidden % 4 == 0 && chunks <= 8 && Aligned(x, 16) && Aligned(scale, 4 * sizeof(T)) &&
      Aligned(y, 4 * sizeof(T)) && (bias == nullptr || Aligned(bias, 4 * sizeof(T)))) {
    const unsigned grid = static_cast<unsigned>(rows);
    const int h = static_cast<int>(hidden);
    auto run = [&](auto chunks_tag) {
      constexpr int kChunks = decltype(chunks_tag)::value;
      if (e4m3 != nullptr) {
        RmsNormRowInRegistersKernel<T, kChunks, true>
            <<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps, out);
      } else {
        RmsNormRowInRegistersKernel<T, kChunks, false>
            <<<grid, kThreads, 0, stream>>>(x, bias, scale, y, h, eps, out);
      }
    };
    if (chunks <= 1) {
      run(std::integral_constant<int, 1>{});
    } else if (chunks <= 2) {
      run(std::integral_constant<int, 2>{});
    } else if (chunks <= 4) {
      run(std::integral_constant<int, 4>{});
    } else {
      run(std::integral_constant<int, 8>{});
    }
    RETURN_IF_LAUNCH_FAILED("rms_norm (row in registers)");
    return absl::OkStatus();
  }
  if (e4m3 != nullptr) {
    RmsNormKernel<T, true><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x, bias, scale, y, static_cast<int>(hidden), eps, out);
  } else {
    RmsNormKernel<T, false><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x, bias, scale, y, static_cast<int>(hidden), eps, out);
  }
  RETURN_IF_LAUNCH_FAILED("rms_norm");
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status LaunchRmsNorm(float* x, const T* bias, const T* scale, T* y, int64_t rows,
                           int64_t hidden, float eps, cudaStream_t stream) {
  return Launch<T>(x, bias, scale, y, nullptr, rows, hidden, eps, stream);
}

template <typename T>
absl::Status LaunchRmsNormE4M3(float* x, const T* bias, const T* scale, T* y,
                               const E4M3RowsOut& e4m3, int64_t rows, int64_t hidden, float eps,
                               cudaStream_t stream) {
  return Launch<T>(x, bias, scale, y, &e4m3, rows, hidden, eps, stream);
}

#define EVO2_INSTANTIATE(T)                                                                       \
  template absl::Status LaunchRmsNorm<T>(float*, const T*, const T*, T*, int64_t, int64_t, float, \
                                         cudaStream_t);                                           \
  template absl::Status LaunchRmsNormE4M3<T>(float*, const T*, const T*, T*, const E4M3RowsOut&,  \
                                             int64_t, int64_t, float, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
