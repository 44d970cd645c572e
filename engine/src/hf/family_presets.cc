#include "hf/family_presets.h"

#include <cstdint>

namespace evo2::hf {
namespace {

using nlohmann::json;

// Byte-level tokenizer of every Evo 2 family (docs/spec/model.md §3).
constexpr int64_t kVocab = 512;

// BioNeMo `HybridMambaConfig8BEvo2Loss` (a NeMo NemotronHConfigBase): Megatron's MambaMixer with
// expand 2 (d_inner = 2H = 8192, so 8192 / 64 = 128 heads) and its default conv width 4;
// attention without position encoding; squared-ReLU MLP; untied output; RMSNorm ε 1e-5.
json HybridMamba8b() {
  return json{{"architectures", {"NemotronHForCausalLM"}},
              {"hybrid_override_pattern", "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"},
              {"num_hidden_layers", 52},
              {"hidden_size", 4096},
              {"vocab_size", kVocab},
              {"mamba_num_heads", 128},
              {"mamba_head_dim", 64},
              {"n_groups", 8},
              {"ssm_state_size", 128},
              {"conv_kernel", 4},
              {"use_conv_bias", true},
              {"num_attention_heads", 32},
              {"num_key_value_heads", 8},
              {"head_dim", 128},
              {"intermediate_size", 21504},
              {"mlp_hidden_act", "relu2"},
              {"layer_norm_epsilon", 1e-5},
              {"tie_word_embeddings", false},
              {"max_position_embeddings", 8192}};
}

struct LlamaSize {
  const char* name;
  int64_t layers, hidden, ffn, heads;
  int64_t seq_length;
  bool eden;  // EdenConfig and its sizes: llama3 RoPE rule (factor 1, low 1, high 4, ctx 8192)
};

// BioNeMo LLAMA_MODEL_OPTIONS: `8B` is NeMo's stock Llama3Config8B (plain RoPE, no llama3 rule),
// the others EdenConfig (a Llama3Config8B with the Llama-3.1 frequency rule) and its larger
// sizes. All: 8 KV groups, head dim 128 (= H / heads), RoPE θ 500000, RMSNorm ε 1e-5, SwiGLU,
// no biases, untied output.
constexpr LlamaSize kLlamaSizes[] = {
    {"8B", 32, 4096, 14336, 32, 8192, false},  {"7B", 32, 4096, 14336, 32, 8192, true},
    {"11B", 36, 5120, 13824, 40, 8192, true},  {"18B", 48, 6144, 16384, 48, 8192, true},
    {"21B", 42, 7168, 19456, 56, 8192, true},  {"24B", 46, 6144, 23296, 48, 32768, true},
    {"27B", 46, 6656, 23296, 52, 32768, true}, {"28B", 48, 6144, 26368, 48, 8192, true},
    {"35B", 64, 7168, 20480, 56, 8192, true},
};

json Llama(const LlamaSize& s) {
  json rope = {{"rope_theta", 500000.0}, {"rope_type", "default"}};
  if (s.eden) {
    rope = {{"rope_theta", 500000.0},  {"rope_type", "llama3"},
            {"factor", 1.0},           {"low_freq_factor", 1.0},
            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  }
  return json{{"architectures", {"LlamaForCausalLM"}},
              {"num_hidden_layers", s.layers},
              {"hidden_size", s.hidden},
              {"intermediate_size", s.ffn},
              {"num_attention_heads", s.heads},
              {"num_key_value_heads", 8},
              {"head_dim", s.hidden / s.heads},
              {"vocab_size", kVocab},
              {"rms_norm_eps", 1e-5},
              {"hidden_act", "silu"},
              {"tie_word_embeddings", false},
              {"max_position_embeddings", s.seq_length},
              {"rope_parameters", rope}};
}

}  // namespace

std::optional<FamilyPreset> FindFamilyPreset(std::string_view name) {
  if (name == "hybrid_mamba_8b") return FamilyPreset{ModelFamily::kNemotronH, HybridMamba8b()};
  for (const LlamaSize& s : kLlamaSizes) {
    if (name == s.name) return FamilyPreset{ModelFamily::kLlama, Llama(s)};
  }
  return std::nullopt;
}

std::vector<std::string> FamilyPresetNames() {
  std::vector<std::string> names = {"hybrid_mamba_8b"};
  for (const LlamaSize& s : kLlamaSizes) names.emplace_back(s.name);
  return names;
}

}  // namespace evo2::hf
