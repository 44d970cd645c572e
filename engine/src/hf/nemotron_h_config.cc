#include "hf/nemotron_h_config.h"

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {

namespace {

std::string ConfigPath(const HfCheckpoint& ckpt) { return ckpt.ConfigName(); }

absl::Status KeyError(const HfCheckpoint& ckpt, const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ConfigPath(ckpt), ": key '", key, "' ", what));
}

// A key that may be absent (or null); present with the wrong type is an error.
absl::StatusOr<std::optional<bool>> OptionalBool(const HfCheckpoint& ckpt, const std::string& key) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return KeyError(ckpt, key, "is not true/false");
  return std::optional<bool>(it->get<bool>());
}

absl::StatusOr<std::optional<std::string>> OptionalString(const HfCheckpoint& ckpt,
                                                          const std::string& key) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return KeyError(ckpt, key, "is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<int64_t> PositiveInt(const HfCheckpoint& ckpt, const std::string& key) {
  ASSIGN_OR_RETURN(auto v, ConfigInt(ckpt, key));
  if (v <= 0) return KeyError(ckpt, key, absl::StrCat("is ", v, ", expected > 0"));
  return v;
}

// A boolean switch whose only implemented value is `implemented` (absent = the HF default,
// which is `implemented` for every key used here).
absl::Status RequireSwitch(const HfCheckpoint& ckpt, const std::string& key, bool implemented,
                           const std::string& why) {
  ASSIGN_OR_RETURN(auto v, OptionalBool(ckpt, key));
  if (v.has_value() && *v != implemented)
    return absl::UnimplementedError(absl::StrCat(ConfigPath(ckpt), ": ", key, " = ",
                                                 *v ? "true" : "false", " is not supported (", why,
                                                 ")"));
  return absl::OkStatus();
}

absl::StatusOr<NemotronHLayerKind> KindFromLetter(const HfCheckpoint& ckpt, char letter,
                                                  size_t index) {
  switch (letter) {
    case 'M': return NemotronHLayerKind::kMamba;
    case '*': return NemotronHLayerKind::kAttention;
    case '-': return NemotronHLayerKind::kMlp;
    case 'E':
      return absl::UnimplementedError(absl::StrCat(
          ConfigPath(ckpt), ": hybrid_override_pattern layer ", index,
          " is 'E' (mixture of experts), which this engine does not run"));
    default:
      return KeyError(ckpt, "hybrid_override_pattern",
                      absl::StrCat("has '", std::string(1, letter), "' at layer ", index,
                                   " (expected M, * or -)"));
  }
}

absl::StatusOr<NemotronHLayerKind> KindFromName(const HfCheckpoint& ckpt, const std::string& name,
                                                size_t index) {
  // transformers 5 writes linear_attention / full_attention; 4.x's property said mamba / attention.
  if (name == "mamba" || name == "linear_attention") return NemotronHLayerKind::kMamba;
  if (name == "attention" || name == "full_attention") return NemotronHLayerKind::kAttention;
  if (name == "mlp") return NemotronHLayerKind::kMlp;
  if (name == "moe")
    return absl::UnimplementedError(absl::StrCat(ConfigPath(ckpt), ": layers_block_type[", index,
                                                 "] is 'moe' (mixture of experts), which this "
                                                 "engine does not run"));
  return KeyError(ckpt, "layers_block_type",
                  absl::StrCat("has '", name, "' at layer ", index,
                               " (expected mamba/linear_attention, attention/full_attention "
                               "or mlp)"));
}

absl::StatusOr<std::vector<NemotronHLayerKind>> ReadPattern(const HfCheckpoint& ckpt) {
  std::optional<std::vector<NemotronHLayerKind>> from_list, from_string;
  if (const auto it = ckpt.config.find("layers_block_type");
      it != ckpt.config.end() && !it->is_null()) {
    if (!it->is_array()) return KeyError(ckpt, "layers_block_type", "is not a list");
    from_list.emplace();
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string())
        return KeyError(ckpt, "layers_block_type", absl::StrCat("entry ", i, " is not a string"));
      ASSIGN_OR_RETURN(auto kind, KindFromName(ckpt, (*it)[i].get<std::string>(), i));
      from_list->push_back(kind);
    }
  }
  ASSIGN_OR_RETURN(auto legacy, OptionalString(ckpt, "hybrid_override_pattern"));
  if (legacy.has_value()) {
    from_string.emplace();
    for (size_t i = 0; i < legacy->size(); ++i) {
      ASSIGN_OR_RETURN(auto kind, KindFromLetter(ckpt, (*legacy)[i], i));
      from_string->push_back(kind);
    }
  }
  if (!from_list && !from_string)
    return absl::InvalidArgumentError(absl::StrCat(
        ConfigPath(ckpt), ": no layer pattern (neither 'layers_block_type' nor "
                          "'hybrid_override_pattern')"));
  if (from_list && from_string && *from_list != *from_string)
    return absl::InvalidArgumentError(
        absl::StrCat(ConfigPath(ckpt), ": 'layers_block_type' and 'hybrid_override_pattern' ('",
                     *legacy, "') describe different layers"));
  std::vector<NemotronHLayerKind> layers = from_list ? *from_list : *from_string;
  if (layers.empty()) return KeyError(ckpt, "layers_block_type", "lists no layers");
  return layers;
}

}  // namespace

char NemotronHLayerLetter(NemotronHLayerKind kind) {
  switch (kind) {
    case NemotronHLayerKind::kMamba: return 'M';
    case NemotronHLayerKind::kAttention: return '*';
    case NemotronHLayerKind::kMlp: return '-';
  }
  return '?';
}

std::string NemotronHConfig::Pattern() const {
  std::string s;
  for (NemotronHLayerKind k : layers) s.push_back(NemotronHLayerLetter(k));
  return s;
}

NemotronHConfig HybridMamba8bConfig() {
  NemotronHConfig c;
  c.hidden_size = 4096;
  c.vocab_size = 512;
  for (char letter : std::string_view("M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-")) {
    c.layers.push_back(letter == 'M'   ? NemotronHLayerKind::kMamba
                       : letter == '*' ? NemotronHLayerKind::kAttention
                                       : NemotronHLayerKind::kMlp);
  }
  c.eps = 1e-5f;
  c.mamba_num_heads = 128;
  c.mamba_head_dim = 64;
  c.n_groups = 8;
  c.ssm_state_size = 128;
  c.conv_kernel = 4;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.attention_head_dim = 128;
  c.intermediate_size = 21504;
  return c;
}

absl::StatusOr<NemotronHConfig> NemotronHConfigFromCheckpoint(const HfCheckpoint& ckpt) {
  NemotronHConfig c;
  ASSIGN_OR_RETURN(auto layers, ReadPattern(ckpt));
  c.layers = std::move(layers);
  if (ckpt.config.contains("num_hidden_layers") && !ckpt.config["num_hidden_layers"].is_null()) {
    ASSIGN_OR_RETURN(auto n, ConfigInt(ckpt, "num_hidden_layers"));
    if (n != c.num_layers())
      return KeyError(ckpt, "num_hidden_layers",
                      absl::StrCat("is ", n, " but the layer pattern ", c.Pattern(), " has ",
                                   c.num_layers(), " layers"));
  }

  struct IntKey {
    const char* key;
    int64_t* dst;
  };
  for (const IntKey& k : {IntKey{"hidden_size", &c.hidden_size},
                          IntKey{"vocab_size", &c.vocab_size},
                          IntKey{"mamba_num_heads", &c.mamba_num_heads},
                          IntKey{"mamba_head_dim", &c.mamba_head_dim},
                          IntKey{"n_groups", &c.n_groups},
                          IntKey{"ssm_state_size", &c.ssm_state_size},
                          IntKey{"conv_kernel", &c.conv_kernel},
                          IntKey{"num_attention_heads", &c.num_attention_heads},
                          IntKey{"num_key_value_heads", &c.num_key_value_heads},
                          IntKey{"intermediate_size", &c.intermediate_size}}) {
    ASSIGN_OR_RETURN(*k.dst, PositiveInt(ckpt, k.key));
  }
  // HF: head_dim if set, else hidden_size / num_attention_heads.
  if (ckpt.config.contains("head_dim") && !ckpt.config["head_dim"].is_null()) {
    ASSIGN_OR_RETURN(c.attention_head_dim, PositiveInt(ckpt, "head_dim"));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      return KeyError(ckpt, "num_attention_heads",
                      absl::StrCat("(", c.num_attention_heads, ") does not divide hidden_size ",
                                   c.hidden_size, " and there is no head_dim"));
    c.attention_head_dim = c.hidden_size / c.num_attention_heads;
  }
  ASSIGN_OR_RETURN(auto eps, ConfigDouble(ckpt, "layer_norm_epsilon"));
  if (!(eps > 0)) return KeyError(ckpt, "layer_norm_epsilon", "must be > 0");
  c.eps = static_cast<float>(eps);

  if (c.mamba_num_heads % c.n_groups != 0)
    return KeyError(ckpt, "n_groups",
                    absl::StrCat("(", c.n_groups, ") does not divide mamba_num_heads (",
                                 c.mamba_num_heads, ")"));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return KeyError(ckpt, "num_key_value_heads",
                    absl::StrCat("(", c.num_key_value_heads,
                                 ") does not divide num_attention_heads (", c.num_attention_heads,
                                 ")"));

  ASSIGN_OR_RETURN(auto tie, OptionalBool(ckpt, "tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);  // NemotronHConfig's default
  ASSIGN_OR_RETURN(auto conv_bias, OptionalBool(ckpt, "use_conv_bias"));
  c.use_conv_bias = conv_bias.value_or(true);

  // Conventions fixed by the README's block math; anything else is refused by name.
  RETURN_IF_ERROR(RequireSwitch(ckpt, "use_bias", false, "Mamba in_proj/out_proj without bias"));
  RETURN_IF_ERROR(RequireSwitch(ckpt, "mamba_proj_bias", false, "Mamba projections without bias"));
  RETURN_IF_ERROR(RequireSwitch(ckpt, "mlp_bias", false, "MLP without bias"));
  RETURN_IF_ERROR(RequireSwitch(ckpt, "attention_bias", false, "attention without bias"));
  ASSIGN_OR_RETURN(auto mlp_act, OptionalString(ckpt, "mlp_hidden_act"));
  if (!mlp_act.has_value() || *mlp_act != "relu2")
    return absl::UnimplementedError(
        absl::StrCat(ConfigPath(ckpt), ": mlp_hidden_act '", mlp_act.value_or("<missing>"),
                     "' is not supported (the hybrid's MLP is squared ReLU, 'relu2')"));
  ASSIGN_OR_RETURN(auto mamba_act, OptionalString(ckpt, "mamba_hidden_act"));
  if (mamba_act.has_value() && *mamba_act != "silu")
    return absl::UnimplementedError(absl::StrCat(ConfigPath(ckpt), ": mamba_hidden_act '",
                                                 *mamba_act,
                                                 "' is not supported (the conv and the gate use "
                                                 "SiLU)"));
  // Not read on purpose: `time_step_limit` / `time_step_min`. HF clamps Δ from below there,
  // Megatron's MambaMixer (what BioNeMo runs) does not clamp; this engine follows Megatron
  // (README "dt clamp"). `chunk_size` only changes HF's evaluation order, not the math.
  return c;
}

ModelConfig ToModelConfig(const NemotronHConfig& c) {
  ModelConfig m;
  m.family = ModelFamily::kNemotronH;
  m.name = absl::StrCat("nemotron_h ", c.Pattern());
  m.num_layers = static_cast<int>(c.num_layers());
  m.hidden_size = static_cast<int>(c.hidden_size);
  m.num_heads = static_cast<int>(c.num_attention_heads);
  m.head_dim = static_cast<int>(c.attention_head_dim);
  m.inner_mlp_size = static_cast<int>(c.intermediate_size);
  m.vocab_size = static_cast<int>(c.vocab_size);
  m.eps = c.eps;
  m.attn_out_proj_bias = false;
  return m;
}

}  // namespace evo2::hf
