// φ of the MLP gate (docs/spec/model.md §6): the exact erf GELU, rounded to T as the reference
// rounds the activation before the product, or the identity. One expression for every kernel
// that applies the gate (mlp_gate.cu, skinny_gemm.cu's gated epilogue, decode_program.cu), so
// their outputs agree bit for bit.
#pragma once

#include "kernels/element.cuh"

namespace evo2::kernels {

template <typename T>
__device__ __forceinline__ float GateActivation(float v, bool gelu) {
  return gelu ? Round<T>(0.5f * v * (1.f + erff(v * 0.70710678118654752f))) : v;
}

}  // namespace evo2::kernels
