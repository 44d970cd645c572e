#include "hf/nemo2_family_config.h"

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "model/config_common.h"

namespace evo2::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Byte-level tokenizer (docs/spec/model.md §3), when neither the config nor the tokenizer says.
constexpr int64_t kDefaultVocab = 512;

absl::Status Refuse(const std::string& src, const std::string& key, const std::string& value,
                    const std::string& why) {
  return absl::UnimplementedError(
      absl::StrCat(src, ": ", key, " = ", value, " is not supported (", why, ")"));
}

// A boolean switch whose only implemented value is `implemented` (absent = NeMo's default,
// which is `implemented` for every key checked here).
absl::Status RequireBool(internal::YamlReader& r, const std::string& src, const char* key,
                         bool implemented, const std::string& why) {
  if (!r.Has(key)) return absl::OkStatus();
  const bool v = r.Bool(key, implemented);
  RETURN_IF_ERROR(r.status());
  if (v != implemented) return Refuse(src, key, v ? "true" : "false", why);
  return absl::OkStatus();
}

absl::Status RequireString(internal::YamlReader& r, const std::string& src, const char* key,
                           const std::string& implemented, const std::string& why) {
  if (!r.Has(key)) return absl::OkStatus();
  const std::string v = r.String(key, implemented);
  RETURN_IF_ERROR(r.status());
  if (v != implemented) return Refuse(src, key, v, why);
  return absl::OkStatus();
}

// The fields both families share.
absl::StatusOr<json> CommonFields(const YAML::Node& root, internal::YamlReader& r,
                                  const std::string& src) {
  json j;
  ASSIGN_OR_RETURN(const int64_t hidden, r.RequiredInt("hidden_size"));
  ASSIGN_OR_RETURN(const int64_t heads, r.RequiredInt("num_attention_heads"));
  ASSIGN_OR_RETURN(const int64_t ffn, r.RequiredInt("ffn_hidden_size"));
  if (hidden <= 0 || heads <= 0 || ffn <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": hidden_size, num_attention_heads and ",
                                                   "ffn_hidden_size must be > 0"));
  }
  j["hidden_size"] = hidden;
  j["num_attention_heads"] = heads;
  j["intermediate_size"] = ffn;
  j["num_key_value_heads"] = r.Int("num_query_groups", heads);
  j["head_dim"] = r.Int("kv_channels", hidden / heads);
  j["tie_word_embeddings"] = r.Bool("share_embeddings_and_output_weights", false);
  j["max_position_embeddings"] = r.Int("seq_length", 8192);
  int64_t vocab = kDefaultVocab;
  if (root["tokenizer"] && root["tokenizer"].IsMap()) {
    internal::YamlReader t(root["tokenizer"], src);
    vocab = t.Int("vocab_size", vocab);
    RETURN_IF_ERROR(t.status());
  }
  j["vocab_size"] = r.Int("vocab_size", vocab);
  const double eps = r.Double("layernorm_epsilon", 1e-5);
  RETURN_IF_ERROR(r.status());
  RETURN_IF_ERROR(RequireString(r, src, "normalization", "RMSNorm", "the families use RMSNorm"));
  RETURN_IF_ERROR(RequireBool(r, src, "add_bias_linear", false, "no linear biases"));
  RETURN_IF_ERROR(RequireBool(r, src, "add_qkv_bias", false, "no q/k/v biases"));
  RETURN_IF_ERROR(RequireBool(r, src, "qk_layernorm", false, "no q/k norms"));
  RETURN_IF_ERROR(RequireBool(r, src, "layernorm_zero_centered_gamma", false,
                              "RMSNorm weights are used as stored"));
  j["eps"] = eps;  // renamed per family below
  return j;
}

absl::StatusOr<json> LlamaFields(internal::YamlReader& r, const std::string& src, json j) {
  ASSIGN_OR_RETURN(const int64_t layers, r.RequiredInt("num_layers"));
  j["architectures"] = {"LlamaForCausalLM"};
  j["num_hidden_layers"] = layers;
  j["rms_norm_eps"] = j["eps"];
  j.erase("eps");
  j["hidden_act"] = "silu";
  RETURN_IF_ERROR(RequireBool(r, src, "gated_linear_unit", true, "Llama's MLP is SwiGLU"));
  RETURN_IF_ERROR(RequireString(r, src, "position_embedding_type", "rope", "Llama uses RoPE"));
  RETURN_IF_ERROR(RequireBool(r, src, "rotary_interleaved", false,
                              "rotate-half RoPE pairing, as HF and Megatron's default"));
  if (r.Has("rotary_percent") && r.Double("rotary_percent", 1.0) != 1.0) {
    return Refuse(src, "rotary_percent", absl::StrCat(r.Double("rotary_percent", 1.0)),
                  "RoPE on the whole head");
  }
  if (r.Has("seq_len_interpolation_factor")) {
    return Refuse(src, "seq_len_interpolation_factor",
                  absl::StrCat(r.Double("seq_len_interpolation_factor", 1.0)),
                  "Llama positions are not interpolated");
  }
  json rope = {{"rope_theta", r.Double("rotary_base", 10000.0)}};
  // Llama31Config / EdenConfig carry the Llama-3.1 frequency rule's fields; Llama3Config8B none.
  if (r.Has("scale_factor") || r.Has("old_context_len")) {
    rope["rope_type"] = "llama3";
    rope["factor"] = r.Double("scale_factor", 8.0);
    rope["low_freq_factor"] = r.Double("low_freq_factor", 1.0);
    rope["high_freq_factor"] = r.Double("high_freq_factor", 4.0);
    rope["original_max_position_embeddings"] = r.Double("old_context_len", 8192.0);
  } else {
    rope["rope_type"] = "default";
  }
  RETURN_IF_ERROR(r.status());
  j["rope_parameters"] = rope;
  return j;
}

absl::StatusOr<json> NemotronHFields(internal::YamlReader& r, const std::string& src, json j) {
  const std::string pattern = r.String("hybrid_override_pattern", "");
  RETURN_IF_ERROR(r.status());
  if (pattern.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": missing 'hybrid_override_pattern' (the hybrid's layer letters)"));
  }
  if (r.Has("num_layers") && r.Int("num_layers", 0) != static_cast<int64_t>(pattern.size())) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": num_layers ", r.Int("num_layers", 0),
                                                   " but hybrid_override_pattern '", pattern,
                                                   "' has ", pattern.size(), " layers"));
  }
  const int64_t hidden = j["hidden_size"].get<int64_t>();
  j["architectures"] = {"NemotronHForCausalLM"};
  j["hybrid_override_pattern"] = pattern;
  j["num_hidden_layers"] = static_cast<int64_t>(pattern.size());
  j["layer_norm_epsilon"] = j["eps"];
  j.erase("eps");
  const int64_t groups = r.Int("mamba_num_groups", r.Int("mamba_ssm_ngroups", 8));
  const int64_t head_dim = r.Int("mamba_head_dim", 64);
  j["n_groups"] = groups;
  j["ssm_state_size"] = r.Int("mamba_state_dim", 128);
  j["mamba_head_dim"] = head_dim;
  j["mamba_num_heads"] = r.Int("mamba_num_heads", head_dim > 0 ? 2 * hidden / head_dim : 0);
  j["conv_kernel"] = 4;
  j["use_conv_bias"] = true;
  j["mlp_hidden_act"] = "relu2";
  RETURN_IF_ERROR(r.status());
  RETURN_IF_ERROR(RequireString(r, src, "position_embedding_type", "none",
                                "the hybrid's attention has no position encoding"));
  RETURN_IF_ERROR(
      RequireBool(r, src, "gated_linear_unit", false, "the hybrid's MLP is a plain squared ReLU"));
  return j;
}

}  // namespace

absl::StatusOr<json> HfConfigFromNemo2ModelYaml(const fs::path& model_yaml, ModelFamily family) {
  const std::string src = model_yaml.string();
  YAML::Node root;
  try {
    root = YAML::LoadFile(src);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(src, ": not a YAML mapping"));
  const YAML::Node config = root["config"] && root["config"].IsMap() ? root["config"] : root;
  internal::YamlReader r(config, src);
  ASSIGN_OR_RETURN(json common, CommonFields(root, r, src));
  switch (family) {
    case ModelFamily::kLlama:
      return LlamaFields(r, src, std::move(common));
    case ModelFamily::kNemotronH:
      return NemotronHFields(r, src, std::move(common));
    case ModelFamily::kHyena:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(src, ": describes an Evo 2 (Hyena) model, not a HuggingFace-family one"));
}

}  // namespace evo2::hf
