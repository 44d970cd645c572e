// The CPU backend's weights: every tensor converted to fp32 once at load (bf16 checkpoint
// values are exact in fp32) and laid out the way the ops want it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cpu/gated_mlp.h"
#include "cpu/hyena_long_filter.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/tensor.h"
#include "ops/fp8.h"

namespace evo2::cpu {

struct HyenaWeights {
  std::vector<float> projections;   // [3H, H], rows interleaved per channel (q, k, v)
  std::vector<float> short_filter;  // [3H, 3] featurizer taps, conv order
  std::vector<float> out_weight;    // [H, H] out_filter_dense
  std::vector<float> out_bias;      // [H]
  std::vector<float> fir_taps;  // hcs [7, H] conv order / hcm [128, H] impulse order, per channel
  int64_t fir_length = 0;
  std::vector<float> skip;  // hcm D [H]
  ModalFilter modal;        // hcl
  ops::Fp8Matrix projections_fp8;  // FP8 copies (docs/spec/fp8.md); empty unless FP8 is on
  ops::Fp8Matrix out_fp8;
};

struct AttentionWeights {
  std::vector<float> wqkv;        // [3H, H], per-head row order (head·3d + j·d + i)
  std::vector<float> out_weight;  // [H, H]
  std::vector<float> out_bias;    // [H] (zeros when the model has none)
  std::vector<float> inv_freq;    // [d/2], stored values (docs/spec/model.md §8)
  ops::Fp8Matrix wqkv_fp8;        // FP8 copies; empty unless --full-fp8
  ops::Fp8Matrix out_fp8;
};

struct BlockWeights {
  BlockKind kind = BlockKind::kHcs;
  std::vector<float> pre_norm;   // [H]
  std::vector<float> post_norm;  // [H]
  HyenaWeights hyena;            // hcs, hcm, hcl
  AttentionWeights attention;    // attn
  MlpWeights mlp;
};

struct Weights {
  std::vector<float> embedding;   // [V, H], also the tied head
  std::vector<float> final_norm;  // [H]
  std::vector<BlockWeights> blocks;
};

// Adds the FP8 copies `mode` asks for (docs/spec/fp8.md); the fp32 weights stay for the layers
// that do not use them. `stored`: Transformer Engine's stored scales by vortex module name
// (Checkpoint::fp8_scales), used where present ("Stored scales"); empty for current scaling.
absl::Status QuantizeLinearsE4M3(Fp8Mode mode, const std::map<std::string, StoredFp8Scales>& stored,
                                 Weights& weights);

// Converts a validated checkpoint (config.h ValidateTensors) to fp32. Each tensor's fp32 copy
// is made once; the TensorMap is not kept.
absl::StatusOr<Weights> LoadWeights(const ModelConfig& config, const TensorMap& tensors);

}  // namespace evo2::cpu
