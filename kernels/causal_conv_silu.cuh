// Causal depthwise convolution over time followed by SiLU (the Mamba-2 mixer's conv1d on x‖B‖C,
// Dao & Gu 2024; golden/m_hybrid_a/README.md "Mamba-2 mixer" step 2):
//   out[b, t, c] = SiLU( bias[c] + Σ_{k=0}^{K−1} w[c, k] · in[b, t − K + 1 + k, c] ),
// with in at t < 0 equal to zero (each of the `batch` sequences starts from zeros; the window
// never crosses into the previous sequence). SiLU(v) = v·σ(v). fp32 arithmetic, one rounding to
// T on store. K ≤ 8.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// in: [batch·seq, ld_in] T (channels 0..C−1 of each row); w: [C, K] fp32 (k = K−1 multiplies the
// current position); bias: [C] fp32 or nullptr; out: [batch·seq, C] T (must not alias in).
template <typename T>
absl::Status LaunchCausalConvSilu(const T* in, int64_t ld_in, const float* w, const float* bias,
                                  T* out, int64_t batch, int64_t seq, int64_t channels,
                                  int64_t kernel_size, cudaStream_t stream);

}  // namespace evo2::kernels
