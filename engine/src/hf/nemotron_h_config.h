// NemotronH (Mamba-2 hybrid, BioNeMo `hybrid_mamba_8b`) architecture as read from a HuggingFace
// config.json (golden/m_hybrid_a/README.md, "The model"). Every key the forward pass depends on
// is required and checked; conventions this engine does not implement (MoE layers, biases on the
// projections, an MLP other than squared ReLU) are refused naming the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "hf/hf_checkpoint.h"

namespace evo2::hf {

// One mixer per layer; the letter is the `hybrid_override_pattern` spelling.
enum class NemotronHLayerKind : uint8_t {
  kMamba,      // 'M'  Mamba-2 mixer (layers_block_type "mamba" / "linear_attention")
  kAttention,  // '*'  GQA attention, no position encoding ("attention" / "full_attention")
  kMlp,        // '-'  squared-ReLU MLP ("mlp")
};

char NemotronHLayerLetter(NemotronHLayerKind kind);

struct NemotronHConfig {
  int64_t hidden_size = 0;  // H
  int64_t vocab_size = 0;   // V
  std::vector<NemotronHLayerKind> layers;
  float eps = 1e-5f;  // `layer_norm_epsilon`, inside the square root (block, final, gated norms)
  bool tie_word_embeddings = false;  // lm_head = embeddings when true

  // Mamba-2 mixer.
  int64_t mamba_num_heads = 0;  // n_h
  int64_t mamba_head_dim = 0;   // P
  int64_t n_groups = 0;         // G (B/C groups; consecutive heads share one)
  int64_t ssm_state_size = 0;   // N
  int64_t conv_kernel = 0;      // K
  bool use_conv_bias = true;

  // Attention.
  int64_t num_attention_heads = 0;  // n_q
  int64_t num_key_value_heads = 0;  // n_kv
  int64_t attention_head_dim = 0;   // d (`head_dim`, else H / n_q)

  // MLP.
  int64_t intermediate_size = 0;  // F

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  int64_t MambaInner() const { return mamba_num_heads * mamba_head_dim; }  // d_inner = n_h·P
  int64_t ConvChannels() const { return MambaInner() + 2 * n_groups * ssm_state_size; }  // x‖B‖C
  // in_proj rows: z ‖ x ‖ B ‖ C ‖ dt.
  int64_t InProjRows() const { return 2 * MambaInner() + 2 * n_groups * ssm_state_size +
                                      mamba_num_heads; }
  // "M-M*-M-".
  std::string Pattern() const;
};

// BioNeMo's `hybrid_mamba_8b` shape (docs/spec/predict-cli.md §4.5; Megatron's
// HybridMambaConfig8BEvo2Loss): 52 layers "M-M-M-M*-…", H 4096, 128 Mamba heads × 64
// (d_inner = 2H), 8 groups, state 128, conv 4, 32 query / 8 KV heads of 128, squared-ReLU MLP
// 21504, vocabulary 512, untied head. For benchmarks and memory planning: no checkpoint of it is
// public.
NemotronHConfig HybridMamba8bConfig();

// Reads the layer pattern from `layers_block_type` (transformers ≥ 5) or the legacy
// `hybrid_override_pattern` (both must agree when both are present), and the sizes above.
absl::StatusOr<NemotronHConfig> NemotronHConfigFromCheckpoint(const HfCheckpoint& ckpt);

// The engine-wide view (family kNemotronH, common fields filled; name "nemotron_h <pattern>").
ModelConfig ToModelConfig(const NemotronHConfig& config);

}  // namespace evo2::hf
