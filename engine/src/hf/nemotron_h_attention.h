// The attention mixer of a NemotronH '*' layer (golden/m_hybrid_a/README.md "Attention mixer"):
// grouped-query causal softmax attention with NO position encoding (order enters only through
// the causal mask and the Mamba layers):
//   q = W_q·u [S, n_q·d], k = W_k·u, v = W_v·u [S, n_kv·d]   (heads = contiguous blocks of d)
//   o_h(s) = Σ_{r≤s} softmax_r(q_h(s)·k_g(r) / √d) v_g(r),   g = ⌊h / (n_q/n_kv)⌋
//   out = W_o · concat_h o_h
// The attention itself is ops/attention.h's CausalSoftmaxAttention (shared with Evo 2 and Llama).
#pragma once

#include <cstdint>
#include <vector>

#include "hf/nemotron_h_config.h"
#include "hf/nemotron_h_weights.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

// q [S, n_q·d], k, v [S, n_kv·d] row-major -> out [S, n_q·d] (heads concatenated head-major).
void GqaCausalAttention(const float* q, const float* k, const float* v, int64_t S, int64_t n_q,
                        int64_t n_kv, int64_t d, float* out, ops::ThreadPool& pool);

class AttentionMixer {
 public:
  explicit AttentionMixer(const NemotronHConfig& config) : config_(config) {}

  // u [S, H] (the normed layer input) -> out [S, H].
  void Run(const NemotronHAttentionWeights& w, const float* u, int64_t S, float* out,
           ops::ThreadPool& pool);

  // k, v [S, n_kv·d] of the latest Run (a decoder's KV cache is derived from them).
  const std::vector<float>& keys() const { return k_; }
  const std::vector<float>& values() const { return v_; }

  // Floats of working memory Run(S) allocates (projections + per-thread score blocks).
  int64_t ScratchFloats(int64_t S, int threads) const;

 private:
  NemotronHConfig config_;
  std::vector<float> q_, k_, v_;  // [S, n_q·d], [S, n_kv·d], [S, n_kv·d]
  std::vector<float> o_;          // [S, n_q·d]
};

}  // namespace evo2::hf
