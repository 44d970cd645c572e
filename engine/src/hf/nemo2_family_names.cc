#include "hf/nemo2_family_names.h"

#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {
namespace {

// The checkpoint's tensors by NeMo name, remembering which ones the mapping used.
class Nemo2Tensors {
 public:
  Nemo2Tensors(const NamedTensors& tensors, std::string where, std::string config_name)
      : where_(std::move(where)), config_name_(std::move(config_name)) {
    for (const auto& [name, t] : tensors) by_name_.emplace(name, &t);
  }
  bool Has(const std::string& name) const { return by_name_.count(name) != 0; }
  const Tensor* Peek(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  // Tensor `name` with exactly `shape`.
  absl::StatusOr<Tensor> Take(const std::string& name, const std::vector<int64_t>& shape) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      return absl::NotFoundError(absl::StrCat(where_, ": NeMo2 tensor '", name, "' is missing"));
    }
    if (it->second->shape() != shape) {
      return absl::InvalidArgumentError(
          absl::StrCat(where_, ": NeMo2 tensor '", name, "' is ", it->second->DebugString(),
                       " but ", config_name_, " implies ", ShapeString(shape)));
    }
    used_.insert(name);
    return *it->second;
  }

  absl::Status CheckAllUsed(const std::string& what) const {
    for (const auto& [name, t] : by_name_) {
      if (used_.count(name) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where_, ": NeMo2 tensor '", name, "' ", t->DebugString(),
                         " is not part of the ", what, " ", config_name_,
                         " describes; refusing a checkpoint that does "
                         "not match its config"));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string where_, config_name_;
  std::map<std::string, const Tensor*> by_name_;
  std::set<std::string> used_;
};

// Row blocks [begin, begin + count) along dim 0 of `parts`, concatenated into one tensor whose
// trailing dims are those of the parts (all of one dtype, as checked by the callers' shapes).
struct RowBlock {
  const Tensor* tensor;
  int64_t begin, count;
};

absl::StatusOr<Tensor> GatherRows(const std::vector<RowBlock>& blocks) {
  const Tensor& first = *blocks.front().tensor;
  std::vector<int64_t> shape = first.shape();
  const size_t row_bytes = first.nbytes() / static_cast<size_t>(first.dim(0));
  shape[0] = 0;
  for (const RowBlock& b : blocks) shape[0] += b.count;
  std::vector<std::byte> out(static_cast<size_t>(shape[0]) * row_bytes);
  size_t at = 0;
  for (const RowBlock& b : blocks) {
    if (b.tensor->dtype() != first.dtype()) {
      return absl::InvalidArgumentError(absl::StrCat("parts of one tensor have dtypes ",
                                                     std::string(DTypeName(first.dtype())), " and ",
                                                     std::string(DTypeName(b.tensor->dtype()))));
    }
    const size_t n = static_cast<size_t>(b.count) * row_bytes;
    std::memcpy(out.data() + at,
                b.tensor->bytes().data() + static_cast<size_t>(b.begin) * row_bytes, n);
    at += n;
  }
  return Tensor::FromBytes(first.dtype(), std::move(shape), out);
}

absl::StatusOr<Tensor> Rows(const Tensor& t, int64_t begin, int64_t count) {
  return GatherRows({{&t, begin, count}});
}

// Slice `l` of a stacked [L, ...] tensor.
absl::StatusOr<Tensor> LayerSlice(const Tensor& stacked, int64_t l) {
  std::vector<int64_t> shape(stacked.shape().begin() + 1, stacked.shape().end());
  const size_t bytes = stacked.nbytes() / static_cast<size_t>(stacked.dim(0));
  return Tensor::FromBytes(stacked.dtype(), std::move(shape),
                           stacked.bytes().subspan(static_cast<size_t>(l) * bytes, bytes));
}

// Megatron's fused qkv [(n_q + 2 n_kv)·d, H] holds, per KV group g, the rows of its r = n_q/n_kv
// query heads, then k_g, then v_g (each head d rows); HF keeps q, k, v apart, heads in order.
absl::Status SplitQkv(const Tensor& qkv, int64_t n_q, int64_t n_kv, int64_t d, TensorMap& out,
                      const std::string& q_name, const std::string& k_name,
                      const std::string& v_name) {
  const int64_t r = n_q / n_kv, group_rows = (r + 2) * d;
  std::vector<RowBlock> q, k, v;
  for (int64_t g = 0; g < n_kv; ++g) {
    q.push_back({&qkv, g * group_rows, r * d});
    k.push_back({&qkv, g * group_rows + r * d, d});
    v.push_back({&qkv, g * group_rows + (r + 1) * d, d});
  }
  ASSIGN_OR_RETURN(out[q_name], GatherRows(q));
  ASSIGN_OR_RETURN(out[k_name], GatherRows(k));
  ASSIGN_OR_RETURN(out[v_name], GatherRows(v));
  return absl::OkStatus();
}

// embedding / output_layer [V_pad, H]: Megatron pads the vocabulary to a multiple of
// make_vocab_size_divisible_by x TP; the rows past the tokenizer's V are padding (NeMo's HF
// exporter drops them too).
absl::StatusOr<Tensor> VocabRows(Nemo2Tensors& in, const std::string& name, int64_t V, int64_t H) {
  int64_t rows = V;
  if (const Tensor* t = in.Peek(name);
      t != nullptr && t->rank() == 2 && t->dim(1) == H && t->dim(0) > V) {
    rows = t->dim(0);
  }
  ASSIGN_OR_RETURN(Tensor t, in.Take(name, {rows, H}));
  if (rows == V) return t;
  return Rows(t, 0, V);
}

// Parts stored as separate keys `<base>.<part>` (Megatron's split factory), concatenated on
// dim 0; or the unsplit `<base>` when that is what the checkpoint holds.
struct Part {
  const char* suffix;
  int64_t rows;
};

absl::StatusOr<Tensor> JoinParts(Nemo2Tensors& in, const std::string& base,
                                 const std::vector<Part>& parts,
                                 const std::vector<int64_t>& trailing) {
  auto shape_of = [&](int64_t rows) {
    std::vector<int64_t> shape = {rows};
    shape.insert(shape.end(), trailing.begin(), trailing.end());
    return shape;
  };
  if (in.Has(base)) {
    int64_t rows = 0;
    for (const Part& p : parts) rows += p.rows;
    return in.Take(base, shape_of(rows));
  }
  std::vector<Tensor> tensors;
  for (const Part& p : parts) {
    ASSIGN_OR_RETURN(Tensor t, in.Take(absl::StrCat(base, ".", p.suffix), shape_of(p.rows)));
    tensors.push_back(std::move(t));
  }
  std::vector<RowBlock> blocks;
  for (const Tensor& t : tensors) blocks.push_back({&t, 0, t.dim(0)});
  auto joined = GatherRows(blocks);
  if (!joined.ok())
    return absl::InvalidArgumentError(absl::StrCat(base, ": ", joined.status().message()));
  return joined;
}

}  // namespace

absl::StatusOr<TensorMap> MapNemotronHNemo2ToHf(const NamedTensors& nemo, const NemotronHConfig& c,
                                                const std::string& where,
                                                const std::string& config_name) {
  Nemo2Tensors in(nemo, where, config_name);
  TensorMap out;
  const int64_t H = c.hidden_size, V = c.vocab_size, di = c.MambaInner(), nh = c.mamba_num_heads;
  const int64_t gn = c.n_groups * c.ssm_state_size, K = c.conv_kernel, F = c.intermediate_size;
  const int64_t d = c.attention_head_dim, q_rows = c.num_attention_heads * d;
  const int64_t qkv_rows = (c.num_attention_heads + 2 * c.num_key_value_heads) * d;
  ASSIGN_OR_RETURN(out["backbone.embeddings.weight"],
                   VocabRows(in, "embedding.word_embeddings.weight", V, H));
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const std::string n = absl::StrCat("decoder.layers.", i, ".");
    const std::string h = absl::StrCat("backbone.layers.", i, ".");
    switch (c.layers[i]) {
      case NemotronHLayerKind::kMamba: {
        ASSIGN_OR_RETURN(out[h + "norm.weight"],
                         in.Take(n + "mixer.in_proj.layer_norm_weight", {H}));
        ASSIGN_OR_RETURN(out[h + "mixer.in_proj.weight"],
                         JoinParts(in, n + "mixer.in_proj.weight",
                                   {{"z", di}, {"x", di}, {"B", gn}, {"C", gn}, {"dt", nh}}, {H}));
        const std::vector<Part> xbc = {{"x", di}, {"B", gn}, {"C", gn}};
        ASSIGN_OR_RETURN(out[h + "mixer.conv1d.weight"],
                         JoinParts(in, n + "mixer.conv1d.weight", xbc, {1, K}));
        if (c.use_conv_bias) {
          ASSIGN_OR_RETURN(out[h + "mixer.conv1d.bias"],
                           JoinParts(in, n + "mixer.conv1d.bias", xbc, {}));
        }
        for (const char* name : {"dt_bias", "A_log", "D"}) {
          ASSIGN_OR_RETURN(out[h + "mixer." + name], in.Take(n + "mixer." + name, {nh}));
        }
        ASSIGN_OR_RETURN(out[h + "mixer.norm.weight"], in.Take(n + "mixer.norm.weight", {di}));
        ASSIGN_OR_RETURN(out[h + "mixer.out_proj.weight"],
                         in.Take(n + "mixer.out_proj.weight", {H, di}));
        break;
      }
      case NemotronHLayerKind::kAttention: {
        ASSIGN_OR_RETURN(out[h + "norm.weight"],
                         in.Take(n + "self_attention.linear_qkv.layer_norm_weight", {H}));
        ASSIGN_OR_RETURN(const Tensor qkv,
                         in.Take(n + "self_attention.linear_qkv.weight", {qkv_rows, H}));
        RETURN_IF_ERROR(SplitQkv(qkv, c.num_attention_heads, c.num_key_value_heads, d, out,
                                 h + "mixer.q_proj.weight", h + "mixer.k_proj.weight",
                                 h + "mixer.v_proj.weight"));
        ASSIGN_OR_RETURN(out[h + "mixer.o_proj.weight"],
                         in.Take(n + "self_attention.linear_proj.weight", {H, q_rows}));
        break;
      }
      case NemotronHLayerKind::kMlp: {
        ASSIGN_OR_RETURN(out[h + "norm.weight"],
                         in.Take(n + "mlp.linear_fc1.layer_norm_weight", {H}));
        ASSIGN_OR_RETURN(out[h + "mixer.up_proj.weight"],
                         in.Take(n + "mlp.linear_fc1.weight", {F, H}));
        ASSIGN_OR_RETURN(out[h + "mixer.down_proj.weight"],
                         in.Take(n + "mlp.linear_fc2.weight", {H, F}));
        break;
      }
    }
  }
  ASSIGN_OR_RETURN(out["backbone.norm_f.weight"], in.Take("decoder.final_norm.weight", {H}));
  if (!c.tie_word_embeddings || in.Has("output_layer.weight")) {
    ASSIGN_OR_RETURN(out["lm_head.weight"], VocabRows(in, "output_layer.weight", V, H));
  }
  RETURN_IF_ERROR(in.CheckAllUsed(absl::StrCat("Mamba-2 hybrid ", c.Pattern())));
  return out;
}

absl::StatusOr<TensorMap> MapLlamaNemo2ToHf(const NamedTensors& nemo, const LlamaConfig& c,
                                            const std::string& where,
                                            const std::string& config_name) {
  Nemo2Tensors in(nemo, where, config_name);
  TensorMap out;
  const int64_t L = c.num_layers, H = c.hidden_size, V = c.vocab_size, F = c.intermediate_size;
  const int64_t d = c.head_dim, q_rows = c.num_heads * d;
  const int64_t qkv_rows = (c.num_heads + 2 * c.num_kv_heads) * d;
  // Layer l of parameter `rest` [shape]: a slice of the stacked decoder.layers.<rest> [L, shape]
  // (Megatron's TransformerBlock), or decoder.layers.<l>.<rest> when saved per layer.
  std::map<std::string, Tensor> stacked;
  auto layer = [&](const std::string& rest, int64_t l,
                   std::vector<int64_t> shape) -> absl::StatusOr<Tensor> {
    const std::string per_layer = absl::StrCat("decoder.layers.", l, ".", rest);
    const std::string whole = "decoder.layers." + rest;
    if (!in.Has(whole) && in.Has(per_layer)) return in.Take(per_layer, shape);
    auto it = stacked.find(whole);
    if (it == stacked.end()) {
      shape.insert(shape.begin(), L);
      ASSIGN_OR_RETURN(Tensor t, in.Take(whole, shape));
      it = stacked.emplace(whole, std::move(t)).first;
    }
    return LayerSlice(it->second, l);
  };
  ASSIGN_OR_RETURN(out["model.embed_tokens.weight"],
                   VocabRows(in, "embedding.word_embeddings.weight", V, H));
  for (int64_t l = 0; l < L; ++l) {
    const std::string h = absl::StrCat("model.layers.", l, ".");
    ASSIGN_OR_RETURN(out[h + "input_layernorm.weight"],
                     layer("self_attention.linear_qkv.layer_norm_weight", l, {H}));
    ASSIGN_OR_RETURN(const Tensor qkv, layer("self_attention.linear_qkv.weight", l, {qkv_rows, H}));
    RETURN_IF_ERROR(SplitQkv(qkv, c.num_heads, c.num_kv_heads, d, out,
                             h + "self_attn.q_proj.weight", h + "self_attn.k_proj.weight",
                             h + "self_attn.v_proj.weight"));
    ASSIGN_OR_RETURN(out[h + "self_attn.o_proj.weight"],
                     layer("self_attention.linear_proj.weight", l, {H, q_rows}));
    ASSIGN_OR_RETURN(out[h + "post_attention_layernorm.weight"],
                     layer("mlp.linear_fc1.layer_norm_weight", l, {H}));
    // Megatron's GLU fc1 is [gate; up] (docs/spec/checkpoints.md §9: TP chunks assemble to it).
    ASSIGN_OR_RETURN(const Tensor fc1, layer("mlp.linear_fc1.weight", l, {2 * F, H}));
    ASSIGN_OR_RETURN(out[h + "mlp.gate_proj.weight"], Rows(fc1, 0, F));
    ASSIGN_OR_RETURN(out[h + "mlp.up_proj.weight"], Rows(fc1, F, F));
    ASSIGN_OR_RETURN(out[h + "mlp.down_proj.weight"], layer("mlp.linear_fc2.weight", l, {H, F}));
  }
  ASSIGN_OR_RETURN(out["model.norm.weight"], in.Take("decoder.final_layernorm.weight", {H}));
  if (!c.tie_word_embeddings || in.Has("output_layer.weight")) {
    ASSIGN_OR_RETURN(out["lm_head.weight"], VocabRows(in, "output_layer.weight", V, H));
  }
  RETURN_IF_ERROR(in.CheckAllUsed(absl::StrCat("Llama model (", L, " layers)")));
  return out;
}

}  // namespace evo2::hf
