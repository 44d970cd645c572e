// Llama self-attention core (golden/l_eden_a/README.md "Forward pass" steps 2–3): rotate-half
// RoPE on every q and k head, grouped-query causal softmax attention with scale 1/√d, heads
// concatenated head-major.
//
// Input is the fused projection qkv = u·[W_q; W_k; W_v]ᵀ, row stride ld = (n_q + 2 n_kv)·d:
//   q head h   at columns h·d … h·d+d−1,               h < n_q
//   k head g   at columns n_q·d + g·d …,                g < n_kv
//   v head g   at columns (n_q + n_kv)·d + g·d …
// Query head h reads KV head ⌊h / (n_q / n_kv)⌋ (consecutive query heads share a group).
#pragma once

#include <cstdint>

#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

struct GqaShape {
  int64_t num_heads = 0;     // n_q
  int64_t num_kv_heads = 0;  // n_kv, divides n_q
  int64_t head_dim = 0;      // d
  int64_t ld() const { return (num_heads + 2 * num_kv_heads) * head_dim; }
};

// qkv [S, ld] (q and k rotated in place), out [S, n_q·d]. `rotary` covers ≥ S positions.
// Sets OpenBLAS to one thread while its tasks run on `pool`, restoring pool.size() after.
void GqaCausalAttention(float* qkv, int64_t S, const GqaShape& shape,
                        const ops::RotaryTable& rotary, float* out, ops::ThreadPool& pool);

}  // namespace evo2::hf
