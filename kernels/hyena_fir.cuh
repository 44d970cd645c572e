// Hyena short/medium inner filter plus post-gate (docs/spec/model.md §7 steps 5-6, hcs and
// hcm), as a direct causal FIR — no FFT (the reference's 2S-point FFT for 128 taps is what makes
// its hcm blocks slow, docs/spec/model.md §14):
//   y[t, c] = Σ_{k<K} h[g, k] · a[t-k, c]  (+ D[c] · a[t, c] when D is given)   fp32
//   o[t, c] = round_T(q[t, c] · round_T(y[t, c]))                                 g = c / (H/G)
// Taps are in **impulse order** (h[g, 0] multiplies the current sample): hcm's file order; hcs's
// conv-order taps must be reversed by the caller. K ∈ {7, 128}; other K are refused.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// q, a, o: [batch, seq, H] T; taps: [G, K] fp32 impulse order; skip_d: [H] fp32 or nullptr.
template <typename T>
absl::Status LaunchHyenaFirGate(const T* q, const T* a, const float* taps, const float* skip_d,
                                T* o, int64_t batch, int64_t seq, int64_t hidden, int64_t groups,
                                int64_t taps_per_filter, cudaStream_t stream);

}  // namespace evo2::kernels
