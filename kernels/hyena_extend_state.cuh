// The Hyena decode state around a multi-token continuation (Decoder::Extend, docs/spec/model.md
// §12): the inverse of hyena_state.cuh's derivations, for a run of L rows at absolute positions
// pos … pos+L−1 that starts from a cached state instead of position 0.
//
// Rings (hyena_state.cuh's layout: slot τ mod n holds the row of position τ, zeros for τ < 0):
//   LaunchRingToRows      rows[j] = ring[(pos − n + j) mod n], j < n: the n positions before pos
//                         in position order, the halo a FIR-like op needs in front of its rows.
//   LaunchRingFromRowsAt  ring[(first + r) mod n] = rows[r] for the last min(n, count) rows of a
//                         run whose row 0 is at position `first` (possibly < 0: a halo row that
//                         stands for the zeros before position 0).
// Modal state of the hcl filter (16 real modes per channel, hyena_long.cuh), kept as [16, H]:
//   LaunchModalStateChannelMajor  [16, H] → [H, 16], the layout LaunchHyenaLongGate's
//                                 initial_state and the CP kernels take.
//   LaunchModalStateAdvance       s[n, c] ← p[c,n]^len · s[n, c] + e[c, n],  p^len = exp(λ·len)
//                                 computed in double: the state after a run of len positions that
//                                 started from s, e being the run's zero-state end state
//                                 (LaunchHyenaLongEndState, hyena_long_cp.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// ring: [n, width] T; rows: n rows of `width` T with row stride ld_rows.
template <typename T>
absl::Status LaunchRingToRows(const T* ring, int64_t n, int64_t width, int64_t position, T* rows,
                              int64_t ld_rows, cudaStream_t stream);

// rows: `count` rows of `width` T with row stride ld_rows, row 0 at position `first`;
// ring: [n, width] T (only the slots of the last min(n, count) rows are written).
template <typename T>
absl::Status LaunchRingFromRowsAt(const T* rows, int64_t ld_rows, int64_t count, int64_t width,
                                  int64_t n, int64_t first, T* ring, cudaStream_t stream);

// state: [16, H] fp32; channel_major: [H, 16] fp32 (overwritten).
absl::Status LaunchModalStateChannelMajor(const float* state, int64_t hidden, float* channel_major,
                                          cudaStream_t stream);

// state: [16, H] fp32 (in place); end_state: [H, 16] fp32; log_poles: [H, 16] fp32; len ≥ 0.
absl::Status LaunchModalStateAdvance(float* state, const float* end_state, const float* log_poles,
                                     int64_t len, int64_t hidden, cudaStream_t stream);

}  // namespace evo2::kernels
