// One Hyena mixer step per sequence (docs/spec/model.md §7 steps 2-6, §12): the featurizer,
// the inner filter and the post-gate for position t_b of each of B sequences, fused, with the
// recurrent state updated in place. Each step computes what the parallel kernels compute at
// that position, with the same roundings (hyena_featurizer.cuh, hyena_fir.cuh, hyena_long.cuh):
//   f[j]  = w[j,0]·P[t−2, j] + w[j,1]·P[t−1, j] + w[j,2]·P[t, j]          (conv order, fp32)
//   q     = round_T(f[3c]),   a_t = round_T(round_T(f[3c+1]) · round_T(f[3c+2]))
//   FIR   y = Σ_{k<K} h[g, k] · a[t−k]  (+ D_c · a_t),  o = round_T(q · round_T(y))
//   modal s_n ← p_n · s_n + a_t,  y = Σ_n R_n · s_n,   o = round_T(round_T(round_T(y) +
//         round_T(D_c · a_t)) · q),   p_n = exp(λ_n)                     (state fp32)
// State layouts (per sequence b, rows are rings indexed by position):
//   proj_tail [B, 2, 3H] T       slot τ mod 2 holds P[τ]           (zeros for τ < 0)
//   fir_tail  [B, K−1, H] T      slot τ mod (K−1) holds a[τ]        (zeros for τ < 0)
//   modal     [B, 16, H] fp32    s_n after position t−1
// Taps in impulse order (hcs reversed at load, as for LaunchHyenaFirGate); K ∈ [2, 128].
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

struct HyenaStepArgs {
  const void* proj = nullptr;          // [B, 3H] T: this step's input projection
  const float* short_taps = nullptr;   // [3H, 3] fp32, conv order
  void* proj_tail = nullptr;           // [B, 2, 3H] T ring
  const int32_t* positions = nullptr;  // [B] device: t_b, the position this step computes
  void* out = nullptr;                 // [B, H] T: gated output o
  const float* skip_d = nullptr;       // [H] fp32 or nullptr (FIR without D)
  // FIR (hcs, hcm): set fir_taps.
  const float* fir_taps = nullptr;  // [G, K] fp32, impulse order
  void* fir_tail = nullptr;         // [B, K−1, H] T ring
  int64_t groups = 0, taps = 0;     // G, K
  // Modal (hcl): set log_poles.
  const float* log_poles = nullptr;  // [H, 16] fp32
  const float* residues = nullptr;   // [H, 16] fp32
  float* modal = nullptr;            // [B, 16, H] fp32
  int64_t batch = 0, hidden = 0;
};

template <typename T>
absl::Status LaunchHyenaStep(const HyenaStepArgs& args, cudaStream_t stream);

}  // namespace evo2::kernels
