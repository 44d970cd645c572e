// Gated-MLP middle (docs/spec/model.md §6): with G = z·[l1; l2]ᵀ stored as [rows, 2I]
// (columns 0..I-1 = l1·z, I..2I-1 = l2·z), computes in place into the first half
//   G[r, i] = round_T(round_T(φ(G[r, i])) · G[r, I + i]),   φ = exact erf GELU or identity.
// The l3 GEMM then reads the first half with leading dimension 2I (no extra buffer).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/fp8_quantize.cuh"

namespace evo2::kernels {

template <typename T>
absl::Status LaunchMlpGate(T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                           cudaStream_t stream);

// The same gate with its output quantised for l3's FP8 GEMM (docs/spec/fp8.md): codes and scales
// bit-identical to LaunchMlpGate followed by LaunchQuantizeRowsE4M3 over the first half
// (ldx = 2I, e4m3.fixed_scale), in one kernel; G itself is only read. e4m3.ldq >= I. With
// current scaling a block holds its row's I gated values in shared memory (I·sizeof(T) bytes;
// larger rows than the device allows are refused).
template <typename T>
absl::Status LaunchMlpGateE4M3(const T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                               const E4M3RowsOut& e4m3, cudaStream_t stream);

}  // namespace evo2::kernels
