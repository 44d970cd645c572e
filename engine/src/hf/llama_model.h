// The Llama ("Eden") model on the CPU in fp32 (golden/l_eden_a/README.md "Forward pass, exactly
// as HF computes it"): pre-norm decoder layers of GQA self-attention with llama3-scaled
// rotate-half RoPE and a SwiGLU MLP, final RMSNorm and an untied (or tied) lm_head.
// GEMMs run on OpenBLAS's threads, attention and the per-row loops on a ThreadPool.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "evo2/config.h"
#include "evo2/model.h"
#include "hf/llama_config.h"
#include "hf/llama_weights.h"
#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

class LlamaModel final : public Model {
 public:
  // threads <= 0: all cores.
  LlamaModel(LlamaConfig config, LlamaWeights weights, int threads);

  const ModelConfig& config() const override { return model_config_; }
  std::string backend_name() const override { return "cpu-fp32"; }
  // hidden_after_blocks k returns the residual stream after decoder layer k; options.layers may
  // name whole layers (blocks.k / decoder.layers.k), the embedding and the final norm.
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;

  const LlamaConfig& llama_config() const { return config_; }

  // Cached-state decoding (hf/llama_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;

  // Called by Forward after each layer's attention with the layer's qkv [S, (n_q + 2 n_kv)·d],
  // q and k rotated: what a decoder's KV cache is derived from. Empty unless prefilling.
  using AttentionObserver = std::function<void(int64_t layer, const float* qkv, int64_t S)>;
  void set_attention_observer(AttentionObserver o) { attention_observer_ = std::move(o); }

  // Working memory (bytes) a forward of S tokens needs beyond the weights: the residual stream,
  // norm/qkv/attention buffers, per-thread score blocks, the MLP chunk, RoPE tables, the head
  // and the requested outputs. Forward refuses (RESOURCE_EXHAUSTED) when this exceeds the memory
  // the OS reports available, instead of dying half-way.
  int64_t EstimateForwardBytes(int64_t S, const ForwardOptions& options) const;
  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override {
    return EstimateForwardBytes(tokens, options);
  }

 private:
  // x [S, H] += attention block of layer l; x += MLP block of layer l.
  void AttentionBlock(const LlamaLayerWeights& w, int64_t S, float* x);
  void MlpBlock(const LlamaLayerWeights& w, int64_t S, float* x);
  const ops::RotaryTable& Rotary(int64_t S);
  friend class LlamaDecoder;  // steps reuse MlpBlock, the weights and the pool

  LlamaConfig config_;
  ModelConfig model_config_;
  LlamaWeights weights_;
  ops::ThreadPool pool_;
  std::vector<float> inv_freq_;  // [d/2] ω_j (llama3-scaled)
  ops::RotaryTable rotary_;      // cos/sin [positions, d/2], grown to the longest S seen
  // Scratch reused across calls (Forward is one call at a time per model).
  std::vector<float> norm_, qkv_, attn_, gate_up_, swiglu_;
  AttentionObserver attention_observer_;
};

}  // namespace evo2::hf
