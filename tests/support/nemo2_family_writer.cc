#include "support/nemo2_family_writer.h"

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/safetensors.h"
#include "evo2/status_macros.h"
#include "io/dcp_writer.h"
#include "nlohmann/json.hpp"

namespace evo2::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// How Megatron stores one key (docs/spec/checkpoints.md §9, §13).
struct Layout {
  int split_dim = -1;    // TP split dim of the (per-layer) tensor; -1 replicated
  bool stacked = false;  // leading layer axis, one chunk per layer
  bool glu = false;      // [gate; up] rows, each half split across the ranks
};

class Builder {
 public:
  explicit Builder(std::map<std::string, Tensor> hf) : hf_(std::move(hf)) {}

  absl::StatusOr<Tensor> Hf(const std::string& name) const {
    auto it = hf_.find(name);
    if (it == hf_.end()) return absl::NotFoundError("HF tensor '" + name + "' missing");
    return it->second;
  }
  void Add(const std::string& name, Tensor t, Layout layout) {
    tensors_.emplace_back("module." + name, std::move(t));
    layouts_["module." + name] = layout;
  }
  NamedTensors& tensors() { return tensors_; }
  const std::map<std::string, Layout>& layouts() const { return layouts_; }

 private:
  std::map<std::string, Tensor> hf_;
  NamedTensors tensors_;
  std::map<std::string, Layout> layouts_;
};

// Rows [begin, begin + count) of each (tensor, begin, count), concatenated on dim 0.
struct Rows {
  Tensor t;
  int64_t begin, count;
};

Tensor Cat(const std::vector<Rows>& parts, std::vector<int64_t> lead = {}) {
  std::vector<int64_t> shape = parts[0].t.shape();
  const size_t row = parts[0].t.nbytes() / static_cast<size_t>(shape[0]);
  std::string bytes;
  shape[0] = 0;
  for (const Rows& p : parts) {
    bytes.append(reinterpret_cast<const char*>(p.t.bytes().data()) + p.begin * row, p.count * row);
    shape[0] += p.count;
  }
  lead.insert(lead.end(), shape.begin(), shape.end());
  return *Tensor::FromBytes(parts[0].t.dtype(), lead, std::as_bytes(std::span(bytes)));
}

// Layers stacked on a new leading axis.
Tensor Stack(const std::vector<Tensor>& layers) {
  std::vector<Rows> parts;
  for (const Tensor& t : layers) parts.push_back({t, 0, t.dim(0)});
  Tensor flat = Cat(parts);
  std::vector<int64_t> shape = layers[0].shape();
  shape.insert(shape.begin(), static_cast<int64_t>(layers.size()));
  return *Tensor::FromBytes(flat.dtype(), shape, flat.bytes());
}

// HF q [n_q·d, H], k, v [n_kv·d, H] -> Megatron's rows per KV group g: its r query heads, k_g, v_g.
Tensor InterleaveQkv(const Tensor& q, const Tensor& k, const Tensor& v, int64_t n_q, int64_t n_kv,
                     int64_t d) {
  const int64_t r = n_q / n_kv;
  std::vector<Rows> parts;
  for (int64_t g = 0; g < n_kv; ++g) {
    parts.push_back({q, g * r * d, r * d});
    parts.push_back({k, g * d, d});
    parts.push_back({v, g * d, d});
  }
  return Cat(parts);
}

std::string Yaml(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_string())
    return "'" + v.get<std::string>() + "'";  // quoted: a pattern may start with * or -
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    std::ostringstream s;
    s.precision(17);
    s << v.get<double>();
    std::string out = s.str();
    if (out.find_first_of(".e") == std::string::npos) out += ".0";
    return out;
  }
  return v.dump();
}

// context/model.yaml as NeMo writes it (model class, `config:` with the TransformerConfig
// fields, the tokenizer), and a small io.json naming the same classes and arguments.
absl::Status WriteContext(const fs::path& dir, const std::string& model_class,
                          const std::string& config_class,
                          const std::vector<std::pair<std::string, json>>& fields) {
  fs::create_directories(dir);
  std::ofstream yaml(dir / "model.yaml");
  yaml << "_target_: " << model_class << "\nconfig:\n  _target_: " << config_class << "\n";
  for (const auto& [k, v] : fields) yaml << "  " << k << ": " << Yaml(v) << "\n";
  yaml << "optim: null\ntokenizer:\n  _target_: "
          "nemo.collections.common.tokenizers.bytelevel_tokenizers.ByteLevelTokenizer\n  "
          "vocab_size: 512\n";
  json args = json::object();
  for (const auto& [k, v] : fields) args[k] = v;
  const json io = {{"root", {{"type", "ref"}, {"key", "trainer_context_1"}}},
                   {"objects",
                    {{"trainer_context_1",
                      {{"model",
                        {{"_target_", model_class},
                         {"config", {{"_target_", config_class}, {"arguments", args}}}}}}}}}};
  std::ofstream(dir / "io.json") << io.dump();
  if (!yaml) return absl::InternalError("cannot write " + (dir / "model.yaml").string());
  return absl::OkStatus();
}

absl::Status BuildNemotronH(const json& cfg, Builder& b,
                            std::vector<std::pair<std::string, json>>& fields) {
  std::string pattern;
  if (cfg.contains("layers_block_type")) {
    for (const auto& kind : cfg["layers_block_type"]) {
      const std::string k = kind.get<std::string>();
      pattern += k == "linear_attention" || k == "mamba" ? 'M' : k == "mlp" ? '-' : '*';
    }
  } else {
    pattern = cfg["hybrid_override_pattern"].get<std::string>();
  }
  const int64_t H = cfg["hidden_size"], nh = cfg["mamba_num_heads"], P = cfg["mamba_head_dim"];
  const int64_t G = cfg["n_groups"], N = cfg["ssm_state_size"], n_q = cfg["num_attention_heads"];
  const int64_t n_kv = cfg["num_key_value_heads"], d = cfg["head_dim"];
  const int64_t di = nh * P, gn = G * N;
  ASSIGN_OR_RETURN(Tensor emb, b.Hf("backbone.embeddings.weight"));
  b.Add("embedding.word_embeddings.weight", emb, {0});
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string n = absl::StrCat("decoder.layers.", i, ".");
    const std::string h = absl::StrCat("backbone.layers.", i, ".");
    ASSIGN_OR_RETURN(Tensor norm, b.Hf(h + "norm.weight"));
    if (pattern[i] == 'M') {
      b.Add(n + "mixer.in_proj.layer_norm_weight", norm, {});
      ASSIGN_OR_RETURN(Tensor in_proj, b.Hf(h + "mixer.in_proj.weight"));
      const std::pair<const char*, Rows> parts[] = {{"z", {in_proj, 0, di}},
                                                    {"x", {in_proj, di, di}},
                                                    {"B", {in_proj, 2 * di, gn}},
                                                    {"C", {in_proj, 2 * di + gn, gn}},
                                                    {"dt", {in_proj, 2 * di + 2 * gn, nh}}};
      for (const auto& [suffix, rows] : parts)
        b.Add(n + "mixer.in_proj.weight." + suffix, Cat({rows}), {0});
      for (const char* what : {"weight", "bias"}) {
        ASSIGN_OR_RETURN(Tensor conv, b.Hf(h + "mixer.conv1d." + what));
        b.Add(n + "mixer.conv1d." + what + ".x", Cat({{conv, 0, di}}), {0});
        b.Add(n + "mixer.conv1d." + what + ".B", Cat({{conv, di, gn}}), {0});
        b.Add(n + "mixer.conv1d." + what + ".C", Cat({{conv, di + gn, gn}}), {0});
      }
      for (const char* what : {"dt_bias", "A_log", "D", "norm.weight"}) {
        ASSIGN_OR_RETURN(Tensor t, b.Hf(h + "mixer." + what));
        b.Add(n + "mixer." + what, t, {0});
      }
      ASSIGN_OR_RETURN(Tensor out_proj, b.Hf(h + "mixer.out_proj.weight"));
      b.Add(n + "mixer.out_proj.weight", out_proj, {1});
    } else if (pattern[i] == '*') {
      b.Add(n + "self_attention.linear_qkv.layer_norm_weight", norm, {});
      ASSIGN_OR_RETURN(Tensor q, b.Hf(h + "mixer.q_proj.weight"));
      ASSIGN_OR_RETURN(Tensor k, b.Hf(h + "mixer.k_proj.weight"));
      ASSIGN_OR_RETURN(Tensor v, b.Hf(h + "mixer.v_proj.weight"));
      b.Add(n + "self_attention.linear_qkv.weight", InterleaveQkv(q, k, v, n_q, n_kv, d), {0});
      ASSIGN_OR_RETURN(Tensor o, b.Hf(h + "mixer.o_proj.weight"));
      b.Add(n + "self_attention.linear_proj.weight", o, {1});
    } else {
      b.Add(n + "mlp.linear_fc1.layer_norm_weight", norm, {});
      ASSIGN_OR_RETURN(Tensor up, b.Hf(h + "mixer.up_proj.weight"));
      ASSIGN_OR_RETURN(Tensor down, b.Hf(h + "mixer.down_proj.weight"));
      b.Add(n + "mlp.linear_fc1.weight", up, {0});
      b.Add(n + "mlp.linear_fc2.weight", down, {1});
    }
  }
  ASSIGN_OR_RETURN(Tensor norm_f, b.Hf("backbone.norm_f.weight"));
  b.Add("decoder.final_norm.weight", norm_f, {});
  ASSIGN_OR_RETURN(Tensor head, b.Hf("lm_head.weight"));
  b.Add("output_layer.weight", head, {0});
  // Derivable sizes are left null, as BioNeMo's configs leave them (kv_channels = H / heads,
  // mamba_num_heads = 2H / head dim), so that the reader's defaults are exercised.
  fields = {{"hybrid_override_pattern", pattern},
            {"num_layers", static_cast<int64_t>(pattern.size())},
            {"hidden_size", H},
            {"ffn_hidden_size", cfg["intermediate_size"]},
            {"num_attention_heads", n_q},
            {"num_query_groups", n_kv},
            {"kv_channels", d == H / n_q ? json(nullptr) : json(d)},
            {"mamba_num_groups", G},
            {"mamba_ssm_ngroups", G},
            {"mamba_state_dim", N},
            {"mamba_head_dim", P},
            {"mamba_num_heads", nh == 2 * H / P ? json(nullptr) : json(nh)},
            {"layernorm_epsilon", cfg["layer_norm_epsilon"]},
            {"normalization", "RMSNorm"},
            {"position_embedding_type", "none"},
            {"gated_linear_unit", false},
            {"add_bias_linear", false},
            {"share_embeddings_and_output_weights", false},
            {"make_vocab_size_divisible_by", 128},
            {"seq_length", 8192},
            {"vocab_size", 512}};
  return absl::OkStatus();
}

absl::Status BuildLlama(const json& cfg, Builder& b,
                        std::vector<std::pair<std::string, json>>& fields, bool& eden) {
  const int64_t L = cfg["num_hidden_layers"], H = cfg["hidden_size"],
                n_q = cfg["num_attention_heads"];
  const int64_t n_kv = cfg["num_key_value_heads"], d = cfg["head_dim"];
  ASSIGN_OR_RETURN(Tensor emb, b.Hf("model.embed_tokens.weight"));
  b.Add("embedding.word_embeddings.weight", emb, {0});
  std::vector<Tensor> in_norm, qkv, proj, post_norm, fc1, fc2;
  for (int64_t l = 0; l < L; ++l) {
    const std::string h = absl::StrCat("model.layers.", l, ".");
    ASSIGN_OR_RETURN(Tensor a, b.Hf(h + "input_layernorm.weight"));
    ASSIGN_OR_RETURN(Tensor q, b.Hf(h + "self_attn.q_proj.weight"));
    ASSIGN_OR_RETURN(Tensor k, b.Hf(h + "self_attn.k_proj.weight"));
    ASSIGN_OR_RETURN(Tensor v, b.Hf(h + "self_attn.v_proj.weight"));
    ASSIGN_OR_RETURN(Tensor o, b.Hf(h + "self_attn.o_proj.weight"));
    ASSIGN_OR_RETURN(Tensor p, b.Hf(h + "post_attention_layernorm.weight"));
    ASSIGN_OR_RETURN(Tensor gate, b.Hf(h + "mlp.gate_proj.weight"));
    ASSIGN_OR_RETURN(Tensor up, b.Hf(h + "mlp.up_proj.weight"));
    ASSIGN_OR_RETURN(Tensor down, b.Hf(h + "mlp.down_proj.weight"));
    in_norm.push_back(a);
    qkv.push_back(InterleaveQkv(q, k, v, n_q, n_kv, d));
    proj.push_back(o);
    post_norm.push_back(p);
    fc1.push_back(Cat({{gate, 0, gate.dim(0)}, {up, 0, up.dim(0)}}));
    fc2.push_back(down);
  }
  const std::string n = "decoder.layers.";
  b.Add(n + "self_attention.linear_qkv.layer_norm_weight", Stack(in_norm), {-1, true});
  b.Add(n + "self_attention.linear_qkv.weight", Stack(qkv), {0, true});
  b.Add(n + "self_attention.linear_proj.weight", Stack(proj), {1, true});
  b.Add(n + "mlp.linear_fc1.layer_norm_weight", Stack(post_norm), {-1, true});
  b.Add(n + "mlp.linear_fc1.weight", Stack(fc1), {0, true, true});
  b.Add(n + "mlp.linear_fc2.weight", Stack(fc2), {1, true});
  ASSIGN_OR_RETURN(Tensor norm, b.Hf("model.norm.weight"));
  b.Add("decoder.final_layernorm.weight", norm, {});
  ASSIGN_OR_RETURN(Tensor head, b.Hf("lm_head.weight"));
  b.Add("output_layer.weight", head, {0});
  const json& rope = cfg["rope_parameters"];
  fields = {{"num_layers", L},
            {"hidden_size", H},
            {"ffn_hidden_size", cfg["intermediate_size"]},
            {"num_attention_heads", n_q},
            {"num_query_groups", n_kv},
            {"kv_channels", d == H / n_q ? json(nullptr) : json(d)},
            {"layernorm_epsilon", cfg["rms_norm_eps"]},
            {"normalization", "RMSNorm"},
            {"position_embedding_type", "rope"},
            {"rotary_base", rope["rope_theta"]},
            {"rotary_percent", 1.0},
            {"rotary_interleaved", false},
            {"seq_len_interpolation_factor", nullptr},
            {"gated_linear_unit", true},
            {"add_bias_linear", false},
            {"share_embeddings_and_output_weights", false},
            {"make_vocab_size_divisible_by", 128},
            {"seq_length", 8192}};
  eden = rope.value("rope_type", "default") == "llama3";
  if (eden) {
    fields.push_back({"scale_factor", rope["factor"]});
    fields.push_back({"low_freq_factor", rope["low_freq_factor"]});
    fields.push_back({"high_freq_factor", rope["high_freq_factor"]});
    fields.push_back({"old_context_len", rope["original_max_position_embeddings"]});
  }
  return absl::OkStatus();
}

// The chunks Megatron's save by `tp` ranks gives one key (docs/spec/checkpoints.md §9).
std::vector<io::DcpChunkPlan> Plan(const Tensor& t, const Layout& layout, int tp,
                                   int& next_replica_rank) {
  std::vector<io::DcpChunkPlan> plan;
  const int64_t layers = layout.stacked ? t.dim(0) : 1;
  const size_t lead = layout.stacked ? 1 : 0;
  for (int64_t l = 0; l < layers; ++l) {
    io::DcpChunkPlan whole{0, std::vector<int64_t>(t.rank(), 0), t.shape()};
    if (layout.stacked) {
      whole.offsets[0] = l;
      whole.sizes[0] = 1;
    }
    if (layout.split_dim < 0) {  // replicated: one rank saves it (Megatron balances them)
      whole.rank = next_replica_rank;
      next_replica_rank = (next_replica_rank + 1) % tp;
      plan.push_back(whole);
      continue;
    }
    const size_t dim = lead + static_cast<size_t>(layout.split_dim);
    const int halves = layout.glu ? 2 : 1;
    const int64_t half_rows = t.dim(dim) / halves;
    for (int r = 0; r < tp; ++r) {
      for (int half = 0; half < halves; ++half) {
        io::DcpChunkPlan c = whole;
        c.rank = r;
        c.sizes[dim] = half_rows / tp;
        c.offsets[dim] = half * half_rows + r * c.sizes[dim];
        plan.push_back(c);
      }
    }
  }
  return plan;
}

}  // namespace

absl::Status WriteNemo2FromHf(const fs::path& hf_dir, const fs::path& out,
                              const Nemo2FamilyWriteOptions& options) {
  std::ifstream in(hf_dir / "config.json");
  const json cfg = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded())
    return absl::InvalidArgumentError("bad config.json in " + hf_dir.string());
  ASSIGN_OR_RETURN(SafetensorsFile st, ReadSafetensors(hf_dir / "model.safetensors"));
  std::map<std::string, Tensor> hf;
  for (auto& [name, t] : st.tensors) hf.emplace(name, t);
  Builder b(std::move(hf));
  std::vector<std::pair<std::string, json>> fields;
  const std::string arch = cfg["architectures"][0];
  std::string model_class, config_class;
  if (arch == "NemotronHForCausalLM") {
    RETURN_IF_ERROR(BuildNemotronH(cfg, b, fields));
    model_class = "bionemo.evo2.models.mamba.MambaModel";
    config_class = "bionemo.evo2.models.mamba.HybridMambaConfig8BEvo2Loss";
  } else if (arch == "LlamaForCausalLM") {
    bool eden = false;
    RETURN_IF_ERROR(BuildLlama(cfg, b, fields, eden));
    model_class = "nemo.collections.llm.gpt.model.llama.LlamaModel";
    config_class = eden ? "bionemo.evo2.models.llama.EdenConfig"
                        : "nemo.collections.llm.gpt.model.llama.Llama3Config8B";
  } else {
    return absl::InvalidArgumentError("unsupported architecture " + arch);
  }
  fields.push_back({"tensor_model_parallel_size", options.tp});
  if (options.edit) options.edit(b.tensors());

  int next_replica_rank = 0;
  io::DcpWriteOptions dcp;
  dcp.ranks = options.tp;
  dcp.planner = [&](const std::string& fqn, const Tensor& t) {
    auto it = b.layouts().find(fqn);
    return Plan(t, it == b.layouts().end() ? Layout{} : it->second, options.tp, next_replica_rank);
  };
  RETURN_IF_ERROR(io::WriteDcpCheckpoint(out / "weights", b.tensors(), dcp));
  std::ofstream(out / "weights" / "metadata.json")
      << R"({"sharded_backend": "torch_dist", "sharded_backend_version": 1, "common_backend": "torch", )"
      << R"("common_backend_version": 1})";
  if (options.with_context)
    RETURN_IF_ERROR(WriteContext(out / "context", model_class, config_class, fields));
  return absl::OkStatus();
}

}  // namespace evo2::testing
