// Element types the kernels are instantiated for: __nv_bfloat16 (the bf16 path) and float (the
// fp32 checking path). Kernels load to fp32, compute in fp32 and round once on store; Round<T>()
// reproduces an intermediate rounding the reference makes (docs/spec/model.md §10).
#pragma once

#include <cuda_bf16.h>

namespace evo2::kernels {

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Rounds an fp32 value to T's precision and back (identity for float).
template <typename T>
__device__ __forceinline__ float Round(float v) { return ToFloat(FromFloat<T>(v)); }

}  // namespace evo2::kernels
