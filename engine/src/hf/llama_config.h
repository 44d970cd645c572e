// The Llama ("Eden") architecture numbers, read from a HuggingFace config.json
// (golden/l_eden_a/README.md "The model"; transformers' LlamaConfig).
//
// RoPE comes in two spellings: transformers >= 5 writes `rope_parameters` {rope_theta, rope_type,
// factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}; older files have
// a top-level `rope_theta` plus `rope_scaling` (null, or the same keys with `rope_type` or the
// older `type`). Both are accepted; rope types other than "default" and "llama3" are refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "hf/hf_checkpoint.h"

namespace evo2::hf {

struct LlamaRope {
  double theta = 10000.0;  // rope_theta
  bool llama3 = false;     // rope_type "llama3" (else "default": ω = ω⁰)
  double factor = 1.0;     // llama3 `factor`
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_context = 8192.0;  // original_max_position_embeddings
};

struct LlamaConfig {
  int64_t num_layers = 0;         // L, num_hidden_layers
  int64_t hidden_size = 0;        // H
  int64_t vocab_size = 0;         // V
  int64_t num_heads = 0;          // n_q, num_attention_heads
  int64_t num_kv_heads = 0;       // n_kv, num_key_value_heads (default n_q)
  int64_t head_dim = 0;           // d, head_dim (default H / n_q)
  int64_t intermediate_size = 0;  // F
  double rms_norm_eps = 1e-6;     // ε, inside the square root
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings =
      0;  // informational; longer inputs still run (RoPE has no table)
  LlamaRope rope;
};

// Reads and checks config.json: required keys with named errors, n_q divisible by n_kv, d even,
// `hidden_act` silu, no attention/MLP biases.
absl::StatusOr<LlamaConfig> ParseLlamaConfig(const HfCheckpoint& ckpt);

// The engine-wide view (family kLlama, common fields filled).
ModelConfig ToModelConfig(const LlamaConfig& config);

// RoPE inverse frequencies ω_j, j < d/2, computed in fp32 exactly as transformers does
// (`_compute_default_rope_parameters` then `_compute_llama3_parameters`).
std::vector<float> LlamaInverseFrequencies(const LlamaConfig& config);

}  // namespace evo2::hf
