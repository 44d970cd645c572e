// Hyena featurizer (docs/spec/model.md §7 steps 2–4), fused:
//   F[t, j] = w[j,0]·P[t-2, j] + w[j,1]·P[t-1, j] + w[j,2]·P[t, j]   (conv order, zero history)
// on all 3H interleaved columns of the projection P, then de-interleave per channel c:
//   q_c = F[:, 3c],  k_c = F[:, 3c+1],  v_c = F[:, 3c+2],  and the pre-gate a = k ⊙ v.
// (vortex names q, k, v as x2, x1, v; the post-gate stream is the first of each triple.)
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace evo2::cpu {

// P [S, 3H], taps [3H, 3] (conv order: taps[j*3+2] multiplies the current sample),
// q [S, H] (post-gate stream), a [S, H] (= k ⊙ v, the inner filter's input).
void HyenaFeaturize(const float* P, int64_t S, int64_t H, const float* taps, float* q, float* a,
                    ops::ThreadPool& pool);

}  // namespace evo2::cpu
