// Llama ("Eden") weights in fp32, from the HF tensor names (golden/l_eden_a/README.md "Forward
// pass" and the key table). Every tensor's shape is checked against the config; q/k/v and
// gate/up are concatenated so each block runs one GEMM for them.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "hf/hf_checkpoint.h"
#include "hf/llama_config.h"

namespace evo2::hf {

struct LlamaLayerWeights {
  std::vector<float> input_norm;  // [H]  input_layernorm.weight
  std::vector<float> wqkv;        // [(n_q + 2 n_kv)·d, H]  rows: q_proj; k_proj; v_proj
  std::vector<float> wo;          // [H, n_q·d]  o_proj
  std::vector<float> post_norm;   // [H]  post_attention_layernorm.weight
  std::vector<float> w_gate_up;   // [2F, H]  rows: gate_proj; up_proj
  std::vector<float> w_down;      // [H, F]  down_proj
};

struct LlamaWeights {
  std::vector<float> embedding;  // [V, H]  model.embed_tokens.weight
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> final_norm;  // [H]  model.norm.weight
  // [V, H] lm_head.weight; empty when tie_word_embeddings (then the head is `embedding`).
  std::vector<float> lm_head;

  const std::vector<float>& head() const { return lm_head.empty() ? embedding : lm_head; }
};

// Errors name the missing tensor, or its shape and the expected one, and the checkpoint dir.
absl::StatusOr<LlamaWeights> LoadLlamaWeights(const HfCheckpoint& ckpt, const LlamaConfig& config);

// The two halves of LoadLlamaWeights, same checks: the embedding, final norm and head (`layers`
// left empty), and one decoder layer. A device backend converts and uploads layer by layer, so
// the host never holds the whole model in fp32 (32 GB at 8B).
absl::StatusOr<LlamaWeights> LoadLlamaOuterWeights(const HfCheckpoint& ckpt,
                                                   const LlamaConfig& config);
absl::StatusOr<LlamaLayerWeights> LoadLlamaLayerWeights(const HfCheckpoint& ckpt,
                                                        const LlamaConfig& config, int64_t layer);

}  // namespace evo2::hf
