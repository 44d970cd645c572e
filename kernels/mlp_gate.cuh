// Gated-MLP middle (docs/spec/model.md §6): with G = z·[l1; l2]ᵀ stored as [rows, 2I]
// (columns 0..I-1 = l1·z, I..2I-1 = l2·z), computes in place into the first half
//   G[r, i] = round_T(round_T(φ(G[r, i])) · G[r, I + i]),   φ = exact erf GELU or identity.
// The l3 GEMM then reads the first half with leading dimension 2I (no extra buffer).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

template <typename T>
absl::Status LaunchMlpGate(T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                           cudaStream_t stream);

}  // namespace evo2::kernels
