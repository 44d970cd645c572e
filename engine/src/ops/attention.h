// Attention mixer core (docs/spec/model.md §8): rotary on q and k, causal softmax
// attention with scale 1/√d per head, heads concatenated head-major.
//
// Input is the Wqkv projection in the checkpoint's per-head row order, so its columns are
//   qkv[:, head·3d + j·d + i]   (j = 0 q, 1 k, 2 v; i < d)
// and no permutation to [Q; K; V] (vortex's load-time reordering) is needed.
#pragma once

#include <cstdint>

#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::ops {

// qkv [S, 3·heads·d] (rotated in place), out [S, heads·d]. `rotary` covers ≥ S positions.
void CausalAttention(float* qkv, int64_t S, int64_t heads, int64_t d, const RotaryTable& rotary,
                     float* out, ThreadPool& pool);

// Where the heads live, for every model family's layout (Evo 2's per-head interleaved Wqkv,
// Llama's fused [q | k | v], NemotronH's separate q, k, v): element i of head h at position t is
//   q[t·ldq + h·q_head_stride + i]    (h < num_heads)
//   k[t·ldk + g·k_head_stride + i]    (g < num_kv_heads; likewise v)
// Query head h reads KV head ⌊h / (num_heads / num_kv_heads)⌋ (grouped-query attention).
struct AttentionHeads {
  const float* q = nullptr;
  int64_t ldq = 0, q_head_stride = 0;
  const float* k = nullptr;
  int64_t ldk = 0, k_head_stride = 0;
  const float* v = nullptr;
  int64_t ldv = 0, v_head_stride = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  // Absolute position of query row 0 (context parallelism: a rank's chunk starts mid-sequence).
  // Query row r sees keys 0..query_offset+r, so k and v must hold query_offset + S rows.
  int64_t query_offset = 0;
};

// Query rows per (block, head) task of CausalSoftmaxAttention: each task holds a [64, S] fp32
// score block (2 MB at S = 8192); models size their scratch estimates with it.
inline constexpr int64_t kAttentionQueryBlock = 64;

// Causal softmax attention with scale 1/√d (no position encoding: apply rotary first) for S
// query rows, out [S, num_heads·d] heads concatenated head-major. Parallel over (query block, head)
// on `pool` with single-threaded BLAS inside (restored to pool.size() after).
void CausalSoftmaxAttention(const AttentionHeads& heads, int64_t S, float* out, ThreadPool& pool);

}  // namespace evo2::ops
