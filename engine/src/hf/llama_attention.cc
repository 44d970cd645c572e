#include "hf/llama_attention.h"

#include "ops/attention.h"

namespace evo2::hf {

void GqaCausalAttention(float* qkv, int64_t S, const GqaShape& shape,
                        const ops::RotaryTable& rotary, float* out, ops::ThreadPool& pool) {
  const int64_t nq = shape.num_heads, nkv = shape.num_kv_heads, d = shape.head_dim;
  const int64_t ld = shape.ld();
  // RoPE on the n_q query heads and n_kv key heads (columns 0 … (n_q+n_kv)·d), not on v.
  pool.ParallelFor(nq + nkv, 1, [&](int64_t b, int64_t e) {
    for (int64_t head = b; head < e; ++head) ops::ApplyRotary(qkv + head * d, S, ld, rotary);
  });
  // Fused [q | k | v] columns: q head h at h·d, KV head g at n_q·d + g·d and (n_q+n_kv)·d + g·d.
  ops::CausalSoftmaxAttention({.q = qkv, .ldq = ld, .q_head_stride = d,
                               .k = qkv + nq * d, .ldk = ld, .k_head_stride = d,
                               .v = qkv + (nq + nkv) * d, .ldv = ld, .v_head_stride = d,
                               .num_heads = nq, .num_kv_heads = nkv, .head_dim = d},
                              S, out, pool);
}

}  // namespace evo2::hf
