// Attention mixer core (spec evo2-architecture.md §8): rotary on q and k, causal softmax
// attention with scale 1/√d per head, heads concatenated head-major.
//
// Input is the Wqkv projection in the checkpoint's per-head row order, so its columns are
//   qkv[:, head·3d + j·d + i]   (j = 0 q, 1 k, 2 v; i < d)
// and no permutation to [Q; K; V] (vortex's load-time reordering) is needed.
#pragma once

#include <cstdint>

#include "cpu/rotary.h"
#include "cpu/thread_pool.h"

namespace evo2::cpu {

// qkv [S, 3·heads·d] (rotated in place), out [S, heads·d]. `rotary` covers ≥ S positions.
void CausalAttention(float* qkv, int64_t S, int64_t heads, int64_t d, const RotaryTable& rotary,
                     float* out, ThreadPool& pool);

}  // namespace evo2::cpu
