#include "hf/nemotron_h_attention.h"

#include <algorithm>

#include "ops/attention.h"
#include "ops/linear.h"

namespace evo2::hf {

void GqaCausalAttention(const float* q, const float* k, const float* v, int64_t S, int64_t n_q,
                        int64_t n_kv, int64_t d, float* out, ops::ThreadPool& pool) {
  // Heads are contiguous blocks of d columns in each of q, k, v.
  ops::CausalSoftmaxAttention({.q = q, .ldq = n_q * d, .q_head_stride = d,
                               .k = k, .ldk = n_kv * d, .k_head_stride = d,
                               .v = v, .ldv = n_kv * d, .v_head_stride = d,
                               .num_heads = n_q, .num_kv_heads = n_kv, .head_dim = d},
                              S, out, pool);
}

int64_t AttentionMixer::ScratchFloats(int64_t S, int threads) const {
  const int64_t qd = config_.num_attention_heads * config_.attention_head_dim;
  const int64_t kvd = config_.num_key_value_heads * config_.attention_head_dim;
  return 2 * S * qd + 2 * S * kvd + int64_t{threads} * std::min(S, ops::kAttentionQueryBlock) * S;
}

void AttentionMixer::Run(const NemotronHAttentionWeights& w, const float* u, int64_t S,
                         float* out, ops::ThreadPool& pool) {
  const int64_t H = config_.hidden_size, d = config_.attention_head_dim;
  const int64_t n_q = config_.num_attention_heads, n_kv = config_.num_key_value_heads;
  q_.resize(static_cast<size_t>(S * n_q * d));
  k_.resize(static_cast<size_t>(S * n_kv * d));
  v_.resize(static_cast<size_t>(S * n_kv * d));
  o_.resize(static_cast<size_t>(S * n_q * d));
  ops::Linear(u, S, H, H, w.q_proj.data(), n_q * d, nullptr, q_.data(), n_q * d);
  ops::Linear(u, S, H, H, w.k_proj.data(), n_kv * d, nullptr, k_.data(), n_kv * d);
  ops::Linear(u, S, H, H, w.v_proj.data(), n_kv * d, nullptr, v_.data(), n_kv * d);
  GqaCausalAttention(q_.data(), k_.data(), v_.data(), S, n_q, n_kv, d, o_.data(), pool);
  ops::Linear(o_.data(), S, n_q * d, n_q * d, w.o_proj.data(), H, nullptr, out, H);
}

}  // namespace evo2::hf
