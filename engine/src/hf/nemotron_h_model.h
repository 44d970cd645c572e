// The NemotronH (Mamba-2 hybrid) network on the CPU in fp32 (golden/m_hybrid_a/README.md
// "Forward pass"): embedding, then per layer x ← x + Mixer_i(RMSNorm(x; norm_i)) with the mixer
// the pattern letter names (M Mamba-2, * attention, - MLP), then final norm and lm_head.
// Built by CreateNemotronHModel (hf/hf_families.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "evo2/config.h"
#include "evo2/model.h"
#include "hf/hf_checkpoint.h"
#include "hf/nemotron_h_attention.h"
#include "hf/nemotron_h_config.h"
#include "hf/nemotron_h_mamba_mixer.h"
#include "hf/nemotron_h_weights.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

class NemotronHModel final : public Model {
 public:
  // `threads` <= 0: all cores (the pool and OpenBLAS).
  NemotronHModel(ModelConfig common, NemotronHConfig config, NemotronHWeights weights,
                 int threads);

  const ModelConfig& config() const override { return common_; }
  const NemotronHConfig& nemotron_config() const { return config_; }
  std::string backend_name() const override { return "cpu-fp32"; }

  // log_probs, logits and hidden_after_blocks (k = layer index: the residual stream after layer
  // k's add). Named captures (options.layers): whole layers only — `blocks.k` /
  // `decoder.layers.k` (= hidden after layer k), `embedding[_layer]`, `norm` /
  // `decoder.final_norm`; other names are refused with UNIMPLEMENTED.
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;

  // Cached-state decoding (hf/nemotron_h_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;

  // Called by Forward right after layer `layer`'s mixer ran over S positions, while the mixer
  // still holds its intermediates (Mamba state, attention k and v). Empty unless prefilling.
  using MixerObserver = std::function<void(int64_t layer, int64_t S)>;
  void set_mixer_observer(MixerObserver o) { mixer_observer_ = std::move(o); }

  // Working memory (bytes) a forward of S tokens needs beyond the weights; Forward refuses
  // (RESOURCE_EXHAUSTED) when it exceeds what the OS reports available.
  int64_t EstimateForwardBytes(int64_t S, const ForwardOptions& options) const;
  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override {
    return EstimateForwardBytes(tokens, options);
  }

 private:
  friend class NemotronHDecoder;  // steps reuse the mixers, the weights and the pool

  ModelConfig common_;
  NemotronHConfig config_;
  NemotronHWeights weights_;
  ops::ThreadPool pool_;
  MambaMixer mamba_;
  AttentionMixer attention_;
  std::vector<float> mlp_scratch_;  // [min(S, kMlpChunkTokens), F]
  MixerObserver mixer_observer_;
};

// The family-independent part of the config (evo2/config.h) that every backend's NemotronH model
// reports: family, name, layer count, sizes, context length from `max_position_embeddings`.
ModelConfig NemotronHModelConfig(const HfCheckpoint& ckpt, const NemotronHConfig& config);

}  // namespace evo2::hf
