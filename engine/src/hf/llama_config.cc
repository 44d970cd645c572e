#include "hf/llama_config.h"

#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {

namespace {

using nlohmann::json;

std::string ConfigFile(const HfCheckpoint& ckpt) { return ckpt.ConfigName(); }

absl::Status Invalid(const HfCheckpoint& ckpt, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(ConfigFile(ckpt), ": ", what));
}

// An optional integer key: `fallback` when absent or null, an error when of another type.
absl::StatusOr<int64_t> OptionalInt(const HfCheckpoint& ckpt, const std::string& key,
                                    int64_t fallback) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    return Invalid(ckpt, absl::StrCat("key '", key, "' is not an integer"));
  return it->get<int64_t>();
}

absl::StatusOr<bool> OptionalBool(const HfCheckpoint& ckpt, const std::string& key, bool fallback) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Invalid(ckpt, absl::StrCat("key '", key, "' is not true/false"));
  return it->get<bool>();
}

// A number inside a RoPE parameter object (`where` names it for errors).
absl::StatusOr<double> RopeNumber(const HfCheckpoint& ckpt, const json& obj,
                                  const std::string& where, const std::string& key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number())
    return Invalid(ckpt, absl::StrCat("key '", where, ".", key,
                                      "' missing or not a number (needed by rope_type llama3)"));
  return it->get<double>();
}

// RoPE from `rope_parameters` (transformers >= 5) or `rope_theta` + `rope_scaling` (older).
absl::StatusOr<LlamaRope> ParseRope(const HfCheckpoint& ckpt) {
  LlamaRope rope;
  const json* params = nullptr;
  std::string where;
  const auto rp = ckpt.config.find("rope_parameters");
  if (rp != ckpt.config.end() && !rp->is_null()) {
    if (!rp->is_object()) return Invalid(ckpt, "key 'rope_parameters' is not an object");
    params = &*rp;
    where = "rope_parameters";
    auto theta = RopeNumber(ckpt, *params, where, "rope_theta");
    if (!theta.ok()) {
      // Some files keep rope_theta at the top level next to rope_parameters.
      auto top = ConfigDouble(ckpt, "rope_theta");
      if (!top.ok())
        return Invalid(ckpt, "neither 'rope_parameters.rope_theta' nor 'rope_theta' is a number");
      theta = *top;
    }
    rope.theta = *theta;
  } else {
    auto theta = ConfigDouble(ckpt, "rope_theta");
    if (!theta.ok())
      return Invalid(ckpt, "no RoPE base: neither 'rope_parameters' nor 'rope_theta' is given");
    rope.theta = *theta;
    const auto rs = ckpt.config.find("rope_scaling");
    if (rs != ckpt.config.end() && !rs->is_null()) {
      if (!rs->is_object()) return Invalid(ckpt, "key 'rope_scaling' is not an object or null");
      params = &*rs;
      where = "rope_scaling";
    }
  }
  if (!(rope.theta > 0))
    return Invalid(ckpt, absl::StrCat("rope_theta ", rope.theta, " is not > 0"));
  std::string type = "default";
  if (params != nullptr) {
    for (const char* key : {"rope_type", "type"}) {  // "type" is the pre-4.45 spelling
      const auto it = params->find(key);
      if (it == params->end()) continue;
      if (!it->is_string())
        return Invalid(ckpt, absl::StrCat("key '", where, ".", key, "' is not a string"));
      type = it->get<std::string>();
      break;
    }
  }
  if (type == "default") return rope;
  if (type != "llama3")
    return absl::UnimplementedError(absl::StrCat(ConfigFile(ckpt), ": ", where, " rope_type '",
                                                 type,
                                                 "' is not supported (default and llama3 are)"));
  rope.llama3 = true;
  ASSIGN_OR_RETURN(rope.factor, RopeNumber(ckpt, *params, where, "factor"));
  ASSIGN_OR_RETURN(rope.low_freq_factor, RopeNumber(ckpt, *params, where, "low_freq_factor"));
  ASSIGN_OR_RETURN(rope.high_freq_factor, RopeNumber(ckpt, *params, where, "high_freq_factor"));
  ASSIGN_OR_RETURN(rope.original_context,
                   RopeNumber(ckpt, *params, where, "original_max_position_embeddings"));
  if (!(rope.factor > 0) || !(rope.low_freq_factor > 0) || !(rope.original_context > 0) ||
      !(rope.high_freq_factor > rope.low_freq_factor))
    return Invalid(ckpt,
                   absl::StrCat(where, ": llama3 needs factor > 0, original context > 0 and ",
                                "high_freq_factor > low_freq_factor > 0 (got factor ", rope.factor,
                                ", low ", rope.low_freq_factor, ", high ", rope.high_freq_factor,
                                ", original context ", rope.original_context, ")"));
  return rope;
}

}  // namespace

absl::StatusOr<LlamaConfig> ParseLlamaConfig(const HfCheckpoint& ckpt) {
  LlamaConfig c;
  struct Required {
    const char* key;
    int64_t* field;
  };
  for (const Required& r :
       {Required{"num_hidden_layers", &c.num_layers}, Required{"hidden_size", &c.hidden_size},
        Required{"vocab_size", &c.vocab_size}, Required{"num_attention_heads", &c.num_heads},
        Required{"intermediate_size", &c.intermediate_size}}) {
    ASSIGN_OR_RETURN(auto v, ConfigInt(ckpt, r.key));
    if (v <= 0) return Invalid(ckpt, absl::StrCat("key '", r.key, "' is ", v, ", not > 0"));
    *r.field = v;
  }
  ASSIGN_OR_RETURN(c.num_kv_heads, OptionalInt(ckpt, "num_key_value_heads", c.num_heads));
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    return Invalid(ckpt,
                   absl::StrCat("num_attention_heads ", c.num_heads,
                                " is not a multiple of num_key_value_heads ", c.num_kv_heads));
  ASSIGN_OR_RETURN(c.head_dim, OptionalInt(ckpt, "head_dim", c.hidden_size / c.num_heads));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    return Invalid(ckpt,
                   absl::StrCat("head_dim ", c.head_dim,
                                " must be positive and even (rotate-half RoPE pairs j, j+d/2)"));
  ASSIGN_OR_RETURN(auto eps, ConfigDouble(ckpt, "rms_norm_eps"));
  if (!(eps >= 0)) return Invalid(ckpt, absl::StrCat("rms_norm_eps ", eps, " is negative"));
  c.rms_norm_eps = eps;
  // LlamaConfig's default.
  ASSIGN_OR_RETURN(c.tie_word_embeddings, OptionalBool(ckpt, "tie_word_embeddings", false));
  ASSIGN_OR_RETURN(c.max_position_embeddings, OptionalInt(ckpt, "max_position_embeddings", 0));
  // Layout switches this engine implements one value of.
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    ASSIGN_OR_RETURN(auto bias, OptionalBool(ckpt, key, false));
    if (bias)
      return absl::UnimplementedError(
          absl::StrCat(ConfigFile(ckpt), ": ", key, " true is not supported (Eden has no biases)"));
  }
  if (const auto act = ckpt.config.find("hidden_act"); act != ckpt.config.end()) {
    if (!act->is_string() || act->get<std::string>() != "silu")
      return absl::UnimplementedError(absl::StrCat(ConfigFile(ckpt), ": hidden_act ", act->dump(),
                                                   " is not supported (only silu, SwiGLU)"));
  }
  ASSIGN_OR_RETURN(c.rope, ParseRope(ckpt));
  return c;
}

ModelConfig ToModelConfig(const LlamaConfig& c) {
  ModelConfig m;
  m.family = ModelFamily::kLlama;
  m.name = "llama";
  m.num_layers = static_cast<int>(c.num_layers);
  m.hidden_size = static_cast<int>(c.hidden_size);
  m.num_heads = static_cast<int>(c.num_heads);
  m.head_dim = static_cast<int>(c.head_dim);
  m.inner_mlp_size = static_cast<int>(c.intermediate_size);
  m.vocab_size = static_cast<int>(c.vocab_size);
  m.rotary_base = c.rope.theta;
  m.eps = static_cast<float>(c.rms_norm_eps);
  m.max_seqlen = c.max_position_embeddings;
  m.attn_out_proj_bias = false;
  return m;
}

std::vector<float> LlamaInverseFrequencies(const LlamaConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> omega(static_cast<size_t>(half));
  // transformers: inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim)), fp32 throughout.
  const float base = static_cast<float>(c.rope.theta);
  for (int64_t j = 0; j < half; ++j) {
    const float expo = static_cast<float>(2 * j) / static_cast<float>(c.head_dim);
    omega[j] = 1.0f / std::pow(base, expo);
  }
  if (!c.rope.llama3) return omega;
  // _compute_llama3_parameters (README "llama3 frequencies"), fp32 tensor arithmetic.
  const LlamaRope& r = c.rope;
  const float factor = static_cast<float>(r.factor);
  const float low = static_cast<float>(r.low_freq_factor);
  const float high = static_cast<float>(r.high_freq_factor);
  const float ctx = static_cast<float>(r.original_context);
  const float low_freq_wavelen = static_cast<float>(r.original_context / r.low_freq_factor);
  const float high_freq_wavelen = static_cast<float>(r.original_context / r.high_freq_factor);
  for (float& w : omega) {
    const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / w;
    if (wavelen > low_freq_wavelen) {
      w = w / factor;
    } else if (!(wavelen < high_freq_wavelen)) {
      const float smooth = (ctx / wavelen - low) / (high - low);
      w = (1.0f - smooth) * w / factor + smooth * w;
    }
  }
  return omega;
}

}  // namespace evo2::hf
