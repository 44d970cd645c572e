// RMSNorm with ε inside the square root, over groups of consecutive channels, optionally gated
// by SiLU first (the HF/Megatron convention of the NemotronH family and of Llama; Evo 2's own
// norm puts ε outside the root: kernels/rms_norm.cuh):
//   v[r, c]   = x[r, c] · SiLU(gate[r, c])          (v = x when gate is null)
//   out[r, c] = w[c] · v[r, c] / sqrt(mean_{c' in group(c)} v[r, c']² + ε)
// group_size = width gives the plain RMSNorm of a row; the Mamba-2 mixer's gated norm
// (golden/m_hybrid_a/README.md step 7) uses groups of d_inner / n_groups channels. Sums of
// squares in fp32; one rounding to T on store.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// x: [rows, ld_x] fp32; gate: [rows, ld_gate] T or nullptr; w: [width] T; out: [rows, ld_out] T
// (must not alias x). width must be a multiple of group_size.
template <typename T>
absl::Status LaunchGroupRmsNorm(const float* x, int64_t ld_x, const T* gate, int64_t ld_gate,
                                const T* w, T* out, int64_t ld_out, int64_t rows, int64_t width,
                                int64_t group_size, float eps, cudaStream_t stream);

}  // namespace evo2::kernels
