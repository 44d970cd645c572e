#include "hf/llama_model.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "hf/hf_families.h"
#include "hf/hf_ops.h"
#include "hf/llama_attention.h"
#include "hf/llama_ops.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/working_memory.h"

namespace evo2::hf {

namespace {

// Positions per MLP chunk: bounds the [chunk, 2F] gate/up buffer (Eden 7B: F = 14336).
constexpr int64_t kMlpChunk = 1024;
constexpr int64_t kHeadChunk = 256;           // llama_ops.cc's head chunk rows


}  // namespace

int64_t LlamaModel::EstimateForwardBytes(int64_t S, const ForwardOptions& options) const {
  const int64_t H = config_.hidden_size, V = config_.vocab_size, F = config_.intermediate_size;
  const int64_t d = config_.head_dim;
  const int64_t ld = (config_.num_heads + 2 * config_.num_kv_heads) * d;
  int64_t floats = 2 * S * H;                                               // x, norm_
  floats += S * ld + S * config_.num_heads * d;                             // qkv_, attn_
  floats += int64_t{pool_.size()} * std::min(S, ops::kAttentionQueryBlock) * S;  // score blocks
  floats += std::min(S, kMlpChunk) * 3 * F;                                 // gate_up_, swiglu_
  floats += S * d;                                                          // RoPE cos + sin
  floats += (options.logits ? S : std::min(S, kHeadChunk)) * V + S;         // head, log-probs
  floats += static_cast<int64_t>(options.hidden_after_blocks.size() + options.layers.size() + 1) *
            S * H;  // captures (+1: the final norm's buffer)
  return floats * static_cast<int64_t>(sizeof(float));
}

LlamaModel::LlamaModel(LlamaConfig config, LlamaWeights weights, int threads)
    : config_(std::move(config)),
      model_config_(ToModelConfig(config_)),
      weights_(std::move(weights)),
      pool_(threads),
      inv_freq_(LlamaInverseFrequencies(config_)) {
  ops::SetBlasThreads(pool_.size());
}

const ops::RotaryTable& LlamaModel::Rotary(int64_t S) {
  if (rotary_.positions < S) {
    // Grow by at least 1.5x so a stream of slightly longer records does not rebuild each time.
    // Angles are fp32(s)·fp32(ω_j) as transformers forms them (README "Precision detail").
    const int64_t n = std::max<int64_t>(S, rotary_.positions + rotary_.positions / 2);
    rotary_ = ops::MakeRotaryTable(inv_freq_.data(), static_cast<int64_t>(inv_freq_.size()), n,
                                   /*position_scale=*/1.0);
  }
  return rotary_;
}

void LlamaModel::AttentionBlock(const LlamaLayerWeights& w, int64_t S, float* x) {
  const int64_t H = config_.hidden_size;
  const GqaShape shape{config_.num_heads, config_.num_kv_heads, config_.head_dim};
  const int64_t qd = shape.num_heads * shape.head_dim;
  norm_.resize(static_cast<size_t>(S * H));
  qkv_.resize(static_cast<size_t>(S * shape.ld()));
  attn_.resize(static_cast<size_t>(S * qd));
  // u = RMSNorm(x); [q k v] = u·[W_q; W_k; W_v]ᵀ  [S, (n_q + 2 n_kv)·d]
  HfRmsNorm(x, S, H, w.input_norm.data(), static_cast<float>(config_.rms_norm_eps), norm_.data(),
               pool_);
  ops::Linear(norm_.data(), S, H, H, w.wqkv.data(), shape.ld(), nullptr, qkv_.data(), shape.ld());
  GqaCausalAttention(qkv_.data(), S, shape, Rotary(S), attn_.data(), pool_);
  // x ← x + W_o·o
  ops::Linear(attn_.data(), S, qd, qd, w.wo.data(), H, nullptr, x, H, /*accumulate=*/true);
}

void LlamaModel::MlpBlock(const LlamaLayerWeights& w, int64_t S, float* x) {
  const int64_t H = config_.hidden_size, F = config_.intermediate_size;
  const int64_t chunk = std::min(S, kMlpChunk);
  norm_.resize(static_cast<size_t>(chunk * H));
  gate_up_.resize(static_cast<size_t>(chunk * 2 * F));
  swiglu_.resize(static_cast<size_t>(chunk * F));
  for (int64_t s0 = 0; s0 < S; s0 += chunk) {
    const int64_t rows = std::min(chunk, S - s0);
    float* xs = x + s0 * H;
    // x ← x + W_down·(SiLU(W_gate·u) ⊙ W_up·u), u = RMSNorm(x)
    HfRmsNorm(xs, rows, H, w.post_norm.data(), static_cast<float>(config_.rms_norm_eps),
                 norm_.data(), pool_);
    ops::Linear(norm_.data(), rows, H, H, w.w_gate_up.data(), 2 * F, nullptr, gate_up_.data(),
                2 * F);
    SwiGlu(gate_up_.data(), rows, F, swiglu_.data(), pool_);
    ops::Linear(swiglu_.data(), rows, F, F, w.w_down.data(), H, nullptr, xs, H,
                /*accumulate=*/true);
  }
}

absl::StatusOr<ForwardResult> LlamaModel::Forward(std::span<const int32_t> tokens,
                                                  const ForwardOptions& options) {
  const int64_t S = static_cast<int64_t>(tokens.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  RETURN_IF_ERROR(CheckForwardTokens(tokens, V));
  // Named captures (evo2/config.h ParseLayerName): for the HF families whole layers only, i.e.
  // the embedding, the residual stream after a layer (blocks.k / decoder.layers.k) and the
  // final norm.
  std::vector<std::pair<LayerTap, std::string>> taps;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(model_config_, name));
    if (tap.point != LayerTap::Point::kEmbedding && tap.point != LayerTap::Point::kBlockOutput &&
        tap.point != LayerTap::Point::kFinalNorm)
      return absl::UnimplementedError(
          absl::StrCat("Forward: layer '", name,
                       "' cannot be captured in the Llama family (whole layers, the embedding "
                       "and the final norm can)"));
    taps.emplace_back(tap, name);
  }
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config_.num_layers)
      return absl::InvalidArgumentError(absl::StrCat("Forward: hidden_after_blocks ", b,
                                                     " is outside [0, ", config_.num_layers, ")"));
  }
  RETURN_IF_ERROR(ops::CheckWorkingMemory(S, EstimateForwardBytes(S, options)));
  ForwardResult result;
  auto capture = [&](LayerTap::Point point, int layer, const std::vector<float>& v) {
    for (const auto& [tap, name] : taps) {
      if (tap.point == point && tap.block == layer) result.layers[name] = v;
    }
  };
  // x_s = E[t_s]  [S, H]
  std::vector<float> x(static_cast<size_t>(S * H));
  for (int64_t s = 0; s < S; ++s) {
    std::copy_n(weights_.embedding.data() + tokens[s] * H, H, x.data() + s * H);
  }
  capture(LayerTap::Point::kEmbedding, -1, x);
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    RETURN_IF_ERROR(CancelledAt(options.cancelled, static_cast<int>(l), config_.num_layers));
    const LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    AttentionBlock(w, S, x.data());
    if (attention_observer_) attention_observer_(l, qkv_.data(), S);
    MlpBlock(w, S, x.data());
    if (std::find(options.hidden_after_blocks.begin(), options.hidden_after_blocks.end(), l) !=
        options.hidden_after_blocks.end())
      result.hidden[static_cast<int>(l)] = x;
    capture(LayerTap::Point::kBlockOutput, static_cast<int>(l), x);
  }
  for (const auto& [tap, name] : taps) {
    if (tap.point != LayerTap::Point::kFinalNorm) continue;
    std::vector<float> normed(static_cast<size_t>(S * H));  // [S, H] RMSNorm(x; model.norm)
    HfRmsNorm(x.data(), S, H, weights_.final_norm.data(),
                 static_cast<float>(config_.rms_norm_eps), normed.data(), pool_);
    capture(LayerTap::Point::kFinalNorm, -1, normed);
    break;
  }
  if (options.log_probs || options.logits) {
    HfHead(x.data(), S, H, weights_.final_norm.data(), static_cast<float>(config_.rms_norm_eps),
           weights_.head().data(), V, tokens, options.log_probs ? &result.log_probs : nullptr,
           options.logits ? &result.logits : nullptr, pool_);
  }
  return result;
}

absl::StatusOr<std::unique_ptr<Model>> CreateLlamaModel(HfCheckpoint ckpt,
                                                        const LoadOptions& options) {
  if (options.precision != Precision::kDefault && options.precision != Precision::kFp32)
    return absl::UnimplementedError(absl::StrCat("precision '", PrecisionName(options.precision),
                                                 "': LlamaForCausalLM (Eden) runs in fp32 only "
                                                 "for now"));
  ASSIGN_OR_RETURN(auto config, ParseLlamaConfig(ckpt));
  ASSIGN_OR_RETURN(auto weights, LoadLlamaWeights(ckpt, config));
  return std::make_unique<LlamaModel>(std::move(config), std::move(weights), options.threads);
}

}  // namespace evo2::hf
