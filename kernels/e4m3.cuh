// Device-side pieces of the engine's one FP8 scaling rule (docs/spec/fp8.md "Scaling"), shared by
// every kernel that writes E4M3 codes (the quantisation pass and the norm / MLP-gate kernels that
// quantise their output in place of it), so that they all give the same codes bit for bit:
//   s = 448 / amax (1 when amax is 0 or not finite), or a fixed stored scale > 0;
//   code = E4M3(v · s), round to nearest even, saturating to ±448 (__NV_SATFINITE).
#pragma once

#include <cuda_fp8.h>

#include <cstdint>

namespace evo2::kernels {

constexpr float kE4M3Max = 448.0f;

// Same expression as the CPU emulation (engine/src/ops/fp8.cc): IEEE division.
__device__ __forceinline__ float E4M3ScaleForAmax(float amax) {
  return (amax > 0.0f && isfinite(amax)) ? kE4M3Max / amax : 1.0f;
}

__device__ __forceinline__ uint8_t ToE4M3(float v) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

// Four codes packed little-endian (byte j = code of element j), for 4-byte stores.
__device__ __forceinline__ uint32_t ToE4M3x4(float4 v, float s) {
  return static_cast<uint32_t>(ToE4M3(v.x * s)) | (static_cast<uint32_t>(ToE4M3(v.y * s)) << 8) |
         (static_cast<uint32_t>(ToE4M3(v.z * s)) << 16) |
         (static_cast<uint32_t>(ToE4M3(v.w * s)) << 24);
}

// |v| folded into a running amax. fmaxf ignores NaN operands, like the CPU's std::fmax: the amax
// of the non-NaN values (a NaN input still becomes a NaN code, so it is not hidden).
__device__ __forceinline__ float AbsMax(float amax, float v) { return fmaxf(amax, fabsf(v)); }

// Block-wide max of non-negative values over kThreads threads; every thread gets the result.
// Max is exact, so the reduction order does not matter (the fused and unfused kernels agree).
template <int kThreads>
__device__ __forceinline__ float BlockMaxNonNegative(float v) {
  __shared__ float warp_max[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x / 32] = v;
  __syncthreads();
  float m = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
  __syncthreads();  // warp_max may be reused by the caller's next reduction
  return m;
}

}  // namespace evo2::kernels
