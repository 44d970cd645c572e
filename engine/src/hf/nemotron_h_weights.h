// NemotronH weights in fp32, one struct per mixer kind, from the HF tensor names
// (golden/m_hybrid_a/README.md "Forward pass" and the key table). Every tensor the config implies
// is required with its exact shape; a tensor the config does not use is an error too (it means
// the pattern, a bias switch or the checkpoint is not what the config says).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "hf/hf_checkpoint.h"
#include "hf/nemotron_h_config.h"

namespace evo2::hf {

// `backbone.layers.i.mixer.*` of an 'M' layer.
struct NemotronHMambaWeights {
  std::vector<float> in_proj;      // [2·d_inner + 2GN + n_h, H]  rows z ‖ x ‖ B ‖ C ‖ dt
  std::vector<float> conv_weight;  // [C, K]  (file [C, 1, K]); k = K−1 multiplies the current token
  std::vector<float> conv_bias;    // [C]  zeros when use_conv_bias is false
  std::vector<float> dt_bias;      // [n_h]
  std::vector<float> A;            // [n_h]  A = −exp(A_log), precomputed in fp32 as HF does
  std::vector<float> D;            // [n_h]
  std::vector<float> norm;         // [d_inner]  gated RMSNorm weight
  std::vector<float> out_proj;     // [H, d_inner]
};

// `backbone.layers.i.mixer.*` of a '*' layer.
struct NemotronHAttentionWeights {
  std::vector<float> q_proj;  // [n_q·d, H]
  std::vector<float> k_proj;  // [n_kv·d, H]
  std::vector<float> v_proj;  // [n_kv·d, H]
  std::vector<float> o_proj;  // [H, n_q·d]
};

// `backbone.layers.i.mixer.*` of a '-' layer.
struct NemotronHMlpWeights {
  std::vector<float> up_proj;    // [F, H]
  std::vector<float> down_proj;  // [H, F]
};

struct NemotronHLayerWeights {
  NemotronHLayerKind kind = NemotronHLayerKind::kMlp;
  std::vector<float> norm;  // [H]  pre-norm `backbone.layers.i.norm.weight`
  NemotronHMambaWeights mamba;          // kind == kMamba
  NemotronHAttentionWeights attention;  // kind == kAttention
  NemotronHMlpWeights mlp;              // kind == kMlp
};

struct NemotronHWeights {
  std::vector<float> embedding;  // [V, H]
  std::vector<NemotronHLayerWeights> layers;
  std::vector<float> norm_f;   // [H]
  std::vector<float> lm_head;  // [V, H]  (a copy of the embedding when tied)
};

// Accepts the `backbone.` prefix (what HF writes) or `model.` (transformers' in-memory name).
absl::StatusOr<NemotronHWeights> LoadNemotronHWeights(const HfCheckpoint& ckpt,
                                                      const NemotronHConfig& config);

}  // namespace evo2::hf
