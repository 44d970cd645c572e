// Per-block recurrent state of one Evo 2 sequence and the one-token steps that advance it
// (docs/spec/model.md §12). Each step computes exactly what the parallel path computes at that
// position, with the same operations in the same order (hyena_featurizer.cc, the three filters,
// ops/attention.h), so a decode agrees with the forward up to GEMM rounding:
//
//   every Hyena block  proj_tail [2, 3H]   P rows t−2, t−1 (zeros before the sequence start)
//   hcs                fir_tail  [6, H]    a rows, ring: a[τ] in slot τ mod 6
//   hcm                fir_tail  [127, H]  a rows, ring: a[τ] in slot τ mod 127
//   hcl                modal     [H, 16]   s[c,n] = Σ_{τ≤t} p[c,n]^{t−τ}·a_c[τ]   (double)
//   attention          kv        KvCache   rotated k and v, [t+1, heads·d] each
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/cpu_weights.h"
#include "ops/kv_cache.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {

struct HyenaBlockState {
  std::vector<float> proj_tail;  // [2, 3H]: row 0 = P[t−2], row 1 = P[t−1]
  std::vector<float> fir_tail;   // [K−1, H] ring of past a rows (hcs, hcm)
  std::vector<double> modal;     // [H, modes] (hcl)
  ops::KvCache kv;               // attention
};

// Zero state (the state before position 0) for a block of `b.kind`.
HyenaBlockState EmptyBlockState(const BlockWeights& b, int64_t H, int64_t heads_times_dim);

// State after positions 0..S−1 from a parallel forward's intermediates of this block:
// P [S, 3H] (input projection) and a [S, H] (k ⊙ v after the featurizer). `state` must be empty.
void DeriveHyenaState(const BlockWeights& b, const float* P, const float* a, int64_t S, int64_t H,
                      HyenaBlockState& state, ops::ThreadPool& pool);

// Attention: qkv [S, 3·heads·d] in the checkpoint's per-head order with q and k already rotated
// (what ops::CausalAttention leaves behind).
void DeriveAttentionState(const float* qkv, int64_t S, int64_t heads, int64_t d,
                          HyenaBlockState& state);

// One Hyena mixer step at position t for channels [c0, c1): featurizer on P_t [3H] and the
// tail, the block's inner filter, the post-gate: o [H] gets q ⊙ y for those channels. Updates
// the state of those channels only, so disjoint channel ranges may run in parallel.
void HyenaStepChannels(const BlockWeights& b, const float* P_t, int64_t t, int64_t H, int64_t c0,
                       int64_t c1, HyenaBlockState& state, float* o);

}  // namespace evo2::cpu
