// The recurrent state of a Hyena block after a prompt, derived from the parallel forward's
// intermediates (docs/spec/model.md §12), for hyena_step.cuh to continue from.
//
// Ring tails: the last n rows of a [S, W] array into an n-row ring, slot τ mod n ← row τ for
// τ ∈ [S−n, S), zero where τ < 0 (a prompt shorter than the tail has zero history, as the
// parallel path's causal padding does). Used for the featurizer's P tail (n = 2, W = 3H) and the
// FIR's a tail (n = K−1, W = H).
//
// Modal state of the hcl filter after positions 0..S−1, a reduction over time in fp32:
//   s[n, c] = Σ_{τ<S} p[c,n]^{S−1−τ} · a[τ, c],   p = exp(λ)
// computed as the parallel kernel's chunked recurrence does: each of 16 time segments runs
// s ← p·s + a from zero, then the segments are summed with the carry factor exp(λ·(S − end)),
// in segment order (deterministic, no atomics).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// rows: [S, W] T (row stride ld_rows elements); ring: [n, W] T.
template <typename T>
absl::Status LaunchRingFromRows(const T* rows, int64_t ld_rows, int64_t seq, int64_t width,
                                int64_t n, T* ring, cudaStream_t stream);

// a: [S, H] T; log_poles: [H, 16] fp32; state: [16, H] fp32 (overwritten).
template <typename T>
absl::Status LaunchHyenaModalState(const T* a, int64_t seq, int64_t hidden, const float* log_poles,
                                   float* state, cudaStream_t stream);

}  // namespace evo2::kernels
