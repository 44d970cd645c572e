#include "hf/llama_weights.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {

namespace {

// Appends tensor `name` (exactly `shape`, any floating dtype) to `dst` as fp32.
absl::Status Append(const HfCheckpoint& ckpt, const std::string& name,
                    const std::vector<int64_t>& shape, std::vector<float>& dst) {
  ASSIGN_OR_RETURN(auto t, RequireTensor(ckpt, name, shape));
  auto v = t.ToFloat32();
  if (!v.ok())
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir.string(), ": tensor '", name, "' (",
                                                   t.DebugString(), "): ", v.status().message()));
  dst.insert(dst.end(), v->begin(), v->end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LlamaLayerWeights> LoadLlamaLayerWeights(const HfCheckpoint& ckpt,
                                                        const LlamaConfig& c, int64_t l) {
  const int64_t H = c.hidden_size, F = c.intermediate_size;
  const int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
  const std::string p = absl::StrCat("model.layers.", l, ".");
  LlamaLayerWeights lw;
  const struct {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float>* dst;
  } parts[] = {
      {p + "input_layernorm.weight", {H}, &lw.input_norm},
      {p + "self_attn.q_proj.weight", {qd, H}, &lw.wqkv},
      {p + "self_attn.k_proj.weight", {kvd, H}, &lw.wqkv},
      {p + "self_attn.v_proj.weight", {kvd, H}, &lw.wqkv},
      {p + "self_attn.o_proj.weight", {H, qd}, &lw.wo},
      {p + "post_attention_layernorm.weight", {H}, &lw.post_norm},
      {p + "mlp.gate_proj.weight", {F, H}, &lw.w_gate_up},
      {p + "mlp.up_proj.weight", {F, H}, &lw.w_gate_up},
      {p + "mlp.down_proj.weight", {H, F}, &lw.w_down},
  };
  for (const auto& part : parts) {
    RETURN_IF_ERROR(Append(ckpt, part.name, part.shape, *part.dst));
  }
  return lw;
}

absl::StatusOr<LlamaWeights> LoadLlamaOuterWeights(const HfCheckpoint& ckpt, const LlamaConfig& c) {
  const int64_t H = c.hidden_size, V = c.vocab_size;
  LlamaWeights w;
  RETURN_IF_ERROR(Append(ckpt, "model.embed_tokens.weight", {V, H}, w.embedding));
  RETURN_IF_ERROR(Append(ckpt, "model.norm.weight", {H}, w.final_norm));
  if (!c.tie_word_embeddings) {
    RETURN_IF_ERROR(Append(ckpt, "lm_head.weight", {V, H}, w.lm_head));
  } else if (ckpt.tensors.count("lm_head.weight")) {
    // A tied checkpoint may still store the head; it must then be the embedding.
    std::vector<float> head;
    RETURN_IF_ERROR(Append(ckpt, "lm_head.weight", {V, H}, head));
    if (head != w.embedding)
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt.dir.string(),
                       ": tie_word_embeddings is true but tensor 'lm_head.weight' differs "
                       "from 'model.embed_tokens.weight'"));
  }
  return w;
}

absl::StatusOr<LlamaWeights> LoadLlamaWeights(const HfCheckpoint& ckpt, const LlamaConfig& c) {
  ASSIGN_OR_RETURN(LlamaWeights w, LoadLlamaOuterWeights(ckpt, c));
  w.layers.reserve(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    ASSIGN_OR_RETURN(LlamaLayerWeights layer, LoadLlamaLayerWeights(ckpt, c, l));
    w.layers.push_back(std::move(layer));
  }
  return w;
}

}  // namespace evo2::hf
