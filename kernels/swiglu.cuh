// SwiGLU middle of a gated MLP (Shazeer 2020, "GLU Variants Improve Transformer"; Llama's MLP):
// with G = u·[W_gate; W_up]ᵀ stored as [rows, 2F] (columns 0..F-1 = gate, F..2F-1 = up),
// computes in place into the first half
//   G[r, f] = round_T(round_T(SiLU(G[r, f])) · G[r, F + f]),   SiLU(a) = a / (1 + e^(−a))
// (the inner rounding is transformers' bf16 act_fn output). The down-projection GEMM then reads
// the first half with leading dimension 2F, as kernels/mlp_gate.cuh's callers do.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// gate_up: [rows, 2F] T, in place (first half overwritten).
template <typename T>
absl::Status LaunchSwiGlu(T* gate_up, int64_t rows, int64_t inner, cudaStream_t stream);

}  // namespace evo2::kernels
