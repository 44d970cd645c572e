// The architecture of a NeMo2 checkpoint of the Mamba-2 hybrid or Llama/Eden family, read from
// its `context/model.yaml` (the Megatron TransformerConfig fields NeMo writes under `config:`)
// and rewritten in HuggingFace config.json spelling for the families' parsers
// (docs/spec/checkpoints.md §13).
//
//   NeMo (model.yaml `config:`)            HF config.json
//   num_layers, hidden_size                 num_hidden_layers, hidden_size
//   ffn_hidden_size                         intermediate_size
//   num_attention_heads, num_query_groups   num_attention_heads, num_key_value_heads (null: =
//   heads) kv_channels (null: H / heads)           head_dim layernorm_epsilon rms_norm_eps /
//   layer_norm_epsilon share_embeddings_and_output_weights     tie_word_embeddings seq_length
//   max_position_embeddings vocab_size (null: tokenizer.vocab_size) vocab_size
// Llama: rotary_base -> rope_theta; the Llama-3.1 rule applies when the config class carries
//   its fields (Llama31Config*, EdenConfig*: scale_factor, low_freq_factor, high_freq_factor,
//   old_context_len -> rope_type llama3 with factor, ..., original_max_position_embeddings);
//   NeMo's Llama3Config8B has none (plain RoPE).
// Mamba-2 hybrid: hybrid_override_pattern; mamba_num_groups (or BioNeMo's mamba_ssm_ngroups)
//   -> n_groups; mamba_state_dim -> ssm_state_size; mamba_head_dim; mamba_num_heads (null:
//   2H / mamba_head_dim, Megatron's expand 2); conv width 4 (Megatron's MambaMixer default).
// Settings whose other values this engine does not run (biases, LayerNorm, rotary on the
// hybrid's attention, non-gated Llama MLP, ...) are refused naming the key.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "evo2/config.h"

namespace evo2::hf {

// `family` is DescribeCheckpoint's answer for the directory (kLlama or kNemotronH).
absl::StatusOr<nlohmann::json> HfConfigFromNemo2ModelYaml(const std::filesystem::path& model_yaml,
                                                          ModelFamily family);

}  // namespace evo2::hf
