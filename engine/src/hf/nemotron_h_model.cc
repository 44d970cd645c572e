#include "hf/nemotron_h_model.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "hf/hf_families.h"
#include "hf/hf_ops.h"
#include "hf/nemotron_h_mlp.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/working_memory.h"

namespace evo2::hf {

NemotronHModel::NemotronHModel(ModelConfig common, NemotronHConfig config,
                               NemotronHWeights weights, int threads)
    : common_(std::move(common)),
      config_(std::move(config)),
      weights_(std::move(weights)),
      pool_(threads),
      mamba_(config_),
      attention_(config_) {
  ops::SetBlasThreads(pool_.size());
}

int64_t NemotronHModel::EstimateForwardBytes(int64_t S, const ForwardOptions& options) const {
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  int64_t floats = 3 * S * H;  // x, z, m
  int64_t mixer = 0;
  for (NemotronHLayerKind kind : config_.layers) {
    switch (kind) {
      case NemotronHLayerKind::kMamba: mixer = std::max(mixer, mamba_.ScratchFloats(S)); break;
      case NemotronHLayerKind::kAttention:
        mixer = std::max(mixer, attention_.ScratchFloats(S, pool_.size()));
        break;
      case NemotronHLayerKind::kMlp:
        mixer = std::max(mixer, std::min(S, kMlpChunkTokens) * config_.intermediate_size);
        break;
    }
  }
  floats += mixer;
  floats += (options.logits ? S : std::min<int64_t>(S, 256)) * V + S;  // head, log-probs
  floats += static_cast<int64_t>(options.hidden_after_blocks.size() + options.layers.size()) *
            S * H;
  return floats * static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<ForwardResult> NemotronHModel::Forward(std::span<const int32_t> tokens,
                                                      const ForwardOptions& options) {
  const int64_t S = static_cast<int64_t>(tokens.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  RETURN_IF_ERROR(CheckForwardTokens(tokens, V));
  // Named captures (evo2/config.h ParseLayerName): for this family whole layers only, i.e. the
  // embedding, the residual stream after a layer (blocks.k / decoder.layers.k) and the final norm.
  std::vector<std::pair<LayerTap, std::string>> taps;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(common_, name));
    if (tap.point != LayerTap::Point::kEmbedding && tap.point != LayerTap::Point::kBlockOutput &&
        tap.point != LayerTap::Point::kFinalNorm)
      return absl::UnimplementedError(absl::StrCat(
          "Forward: layer '", name, "' cannot be captured in the NemotronH (Mamba-2 hybrid) family "
          "(whole layers, the embedding and the final norm can)"));
    taps.emplace_back(tap, name);
  }
  auto capture = [&](LayerTap::Point point, int layer, const std::vector<float>& v,
                     ForwardResult& r) {
    for (const auto& [tap, name] : taps) {
      if (tap.point == point && tap.block == layer) r.layers[name] = v;
    }
  };
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config_.num_layers())
      return absl::OutOfRangeError(absl::StrCat("hidden state after layer ", b,
                                                " requested; the model has layers 0..",
                                                config_.num_layers() - 1));
  }
  RETURN_IF_ERROR(ops::CheckWorkingMemory(S, EstimateForwardBytes(S, options)));

  ForwardResult result;
  std::vector<float> x(static_cast<size_t>(S * H));  // [S, H] residual stream
  std::vector<float> z(static_cast<size_t>(S * H));  // [S, H] normed layer input
  std::vector<float> m(static_cast<size_t>(S * H));  // [S, H] mixer output
  ops::Embed(tokens, weights_.embedding.data(), H, x.data());
  capture(LayerTap::Point::kEmbedding, -1, x, result);
  for (int64_t i = 0; i < config_.num_layers(); ++i) {
    RETURN_IF_ERROR(CancelledAt(options.cancelled, static_cast<int>(i),
                                static_cast<int>(config_.num_layers())));
    const NemotronHLayerWeights& lw = weights_.layers[static_cast<size_t>(i)];
    HfRmsNorm(x.data(), S, H, lw.norm.data(), config_.eps, z.data(), pool_);
    switch (lw.kind) {
      case NemotronHLayerKind::kMamba: mamba_.Run(lw.mamba, z.data(), S, m.data(), pool_); break;
      case NemotronHLayerKind::kAttention:
        attention_.Run(lw.attention, z.data(), S, m.data(), pool_);
        break;
      case NemotronHLayerKind::kMlp:
        SquaredReluMlp(lw.mlp, z.data(), S, H, config_.intermediate_size, m.data(), mlp_scratch_,
                       pool_);
        break;
    }
    if (mixer_observer_) mixer_observer_(i, S);
    pool_.ParallelFor(S, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t j = t0 * H; j < t1 * H; ++j) x[j] += m[j];
    });
    for (int hb : options.hidden_after_blocks) {
      if (hb == i) result.hidden[hb] = x;
    }
    capture(LayerTap::Point::kBlockOutput, static_cast<int>(i), x, result);
  }
  for (const auto& [tap, name] : taps) {
    if (tap.point != LayerTap::Point::kFinalNorm) continue;
    HfRmsNorm(x.data(), S, H, weights_.norm_f.data(), config_.eps, z.data(), pool_);
    capture(LayerTap::Point::kFinalNorm, -1, z, result);
    break;
  }
  if (options.log_probs || options.logits) {
    HfHead(x.data(), S, H, weights_.norm_f.data(), config_.eps, weights_.lm_head.data(), V,
           tokens, options.log_probs ? &result.log_probs : nullptr,
           options.logits ? &result.logits : nullptr, pool_);
  }
  return result;
}

absl::StatusOr<std::unique_ptr<Model>> CreateNemotronHModel(HfCheckpoint ckpt,
                                                            const LoadOptions& options) {
  if (options.precision != Precision::kDefault && options.precision != Precision::kFp32)
    return absl::UnimplementedError(
        absl::StrCat(ckpt.dir.string(),
                     ": NemotronH (Mamba-2 hybrid) models run in fp32 only for now "
                     "(precision '",
                     PrecisionName(options.precision), "' requested)"));
  ASSIGN_OR_RETURN(auto config, NemotronHConfigFromCheckpoint(ckpt));
  ASSIGN_OR_RETURN(auto weights, LoadNemotronHWeights(ckpt, config));
  ModelConfig common = NemotronHModelConfig(ckpt, config);
  return std::unique_ptr<Model>(new NemotronHModel(std::move(common), std::move(config),
                                                   std::move(weights), options.threads));
}

ModelConfig NemotronHModelConfig(const HfCheckpoint& ckpt, const NemotronHConfig& config) {
  ModelConfig common = ToModelConfig(config);
  common.name = absl::StrCat(common.name, " (", ckpt.dir.filename().string(), ")");
  if (auto ctx = ConfigInt(ckpt, "max_position_embeddings"); ctx.ok()) common.max_seqlen = *ctx;
  return common;
}

}  // namespace evo2::hf
