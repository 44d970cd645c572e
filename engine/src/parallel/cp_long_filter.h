// hcl under context parallelism (docs/parallelism.md §3). The long filter is the exact modal
// recurrence s_t = p ⊙ s_{t−1} + a_t, y_t = Σ_n R_n s_t,n + D a_t (docs/spec/model.md §12),
// so a chunk that starts with state s0 instead of zero differs by a rank-16 term:
//   y_t = y⁰_t + Σ_n R_n p_n^{t+1} s0_n          (t = 0..Lc−1 within the chunk)
// and the state after chunk k is S_k = p^Lc ⊙ S_{k−1} + e_k, with e_k the chunk's end state from
// zero. Each rank runs its chunks from zero (the expensive part, no communication), the ranks
// all-gather their end states e (16 doubles per channel per chunk: the scan over ranks, done by
// every rank as a 2·CP-step fold), and each rank adds the correction for its chunks.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "cpu/hyena_long_filter.h"
#include "evo2/communicator.h"
#include "ops/thread_pool.h"
#include "parallel/sequence_split.h"

namespace evo2::parallel {

// a, y [L, H] (this rank's local rows, H = its channels); `filter` holds those channels.
absl::Status HyenaLongFilterContextParallel(const SequenceSplit& split, Communicator& cp,
                                            const float* a, int64_t H,
                                            const cpu::ModalFilter& filter, float* y,
                                            ops::ThreadPool& pool);

}  // namespace evo2::parallel
