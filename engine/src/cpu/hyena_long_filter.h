// hcl inner filter (docs/spec/model.md §7 step 5): per channel a long causal filter made
// of 16 real decaying exponentials, as long as the input, plus a skip D:
//   h_c[t] = Σ_n R[c,n] · exp(λ[c,n]·t),   y_c[t] = Σ_{τ≤t} h_c[t-τ]·a_c[τ] + D_c·a_c[t].
//
// Two exact implementations (docs/adr/0001-hcl-on-cpu.md compares them on golden case c):
//   - HyenaLongFilterModal: the modal recurrence (docs/spec/model.md §12) with p = e^λ,
//       s_n ← p_n·s_n + a_c[t],   y_c[t] = Σ_n R[c,n]·s_n + D_c·a_c[t],
//     O(S·H·16), state in double. The default.
//   - HyenaLongFilterFft (hyena_long_filter_fft.h): what vortex does, an FFT convolution of
//     size ≥ 2S with the filter materialised, O(S·H·(16 + log S)).
#pragma once

#include <cstdint>
#include <vector>

#include "ops/thread_pool.h"

namespace evo2::cpu {

// Per-layer hcl parameters in the form the recurrence wants.
struct ModalFilter {
  int64_t channels = 0;            // H
  int64_t modes = 0;               // 16
  std::vector<double> pole;        // [H, modes]  p = exp(λ)
  std::vector<double> residue;     // [H, modes] R
  std::vector<float> log_pole;     // [H, modes] λ as stored (fp32), for the FFT variant
  std::vector<float> residue_f32;  // [H, modes]
  std::vector<float> skip;         // [H] D
};

// log_poles [H, modes] (λ), residues [H, modes], D [H].
ModalFilter MakeModalFilter(const float* log_poles, const float* residues, const float* D,
                            int64_t H, int64_t modes);

// a, y [S, H]. When `end_state` is given it receives the modal state after the last position,
// [H, modes] (context parallelism passes it to the next chunk's rank, docs/parallelism.md §3).
// When `start_state` [H, modes] is given the recurrence starts from it instead of zero: the
// continuation of a sequence whose state is known before the run (a decoder's Extend), the
// same arithmetic as one run over the whole sequence. Context parallelism learns a chunk's
// start state only after its run and adds the response to it instead (cp_long_filter.h).
// end_state may be the same array as start_state.
void HyenaLongFilterModal(const float* a, int64_t S, int64_t H, const ModalFilter& filter, float* y,
                          ops::ThreadPool& pool, double* end_state = nullptr,
                          const double* start_state = nullptr);

}  // namespace evo2::cpu
