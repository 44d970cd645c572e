#include "cpu/cpu_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/hyena_featurizer.h"
#include "cpu/hyena_medium_filter.h"
#include "cpu/hyena_short_filter.h"
#include "cpu/lm_head.h"
#include "evo2/status_macros.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"
#include "ops/working_memory.h"

namespace evo2::cpu {

using Point = LayerTap::Point;

// Which activations to copy out, by tap; each tap may be requested under several names.
struct CpuModel::Captures {
  std::vector<std::pair<LayerTap, std::string>> named;  // from ForwardOptions::layers
  std::vector<int> hidden_blocks;                       // ForwardOptions::hidden_after_blocks

  bool Wants(Point p, int block) const {
    for (const auto& [tap, name] : named) {
      if (tap.point == p && tap.block == block) return true;
    }
    return false;
  }
  // Copies rows [t0, t0+rows) of an [*, H] activation into every request for (p, block).
  void Store(Point p, int block, const float* src, int64_t t0, int64_t rows, int64_t S, int64_t H,
             ForwardResult& out) const {
    for (const auto& [tap, name] : named) {
      if (tap.point != p || tap.block != block) continue;
      std::vector<float>& dst = out.layers[name];
      dst.resize(static_cast<size_t>(S * H));
      std::copy_n(src, rows * H, dst.data() + t0 * H);
    }
  }
};

CpuModel::CpuModel(ModelConfig config, Weights weights, CpuOptions options)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      options_(options),
      pool_(options.threads) {
  ops::SetBlasThreads(pool_.size());
}

template <typename Fn>
void CpuModel::Stage(const char* stage, Fn&& fn) {
  if (!options_.profile) {
    fn();
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  stage_seconds_[stage] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const ops::RotaryTable& CpuModel::Rotary(const std::vector<float>& inv_freq, int64_t S) {
  ops::RotaryTable& t = rotary_[inv_freq];
  if (t.positions < S) {
    // Grow by at least 1.5x so a stream of slightly longer records does not rebuild each time.
    const int64_t n = std::max<int64_t>(S, t.positions + t.positions / 2);
    t = ops::MakeRotaryTable(inv_freq.data(), static_cast<int64_t>(inv_freq.size()), n,
                             config_.rotary_position_scale);
  }
  return t;
}

void CpuModel::InnerFilter(const BlockWeights& b, int64_t S) {
  const int64_t H = config_.hidden_size;
  const HyenaWeights& w = b.hyena;
  switch (b.kind) {
    case BlockKind::kHcs:  // 7 taps, conv order, no skip
      HyenaShortFilter(a_.data(), S, H, w.fir_taps.data(), w.fir_length, y_.data(), pool_);
      break;
    case BlockKind::kHcm:  // 128 taps, impulse order, + D·a
      HyenaMediumFilter(a_.data(), S, H, w.fir_taps.data(), w.fir_length, w.skip.data(), y_.data(),
                        pool_);
      break;
    case BlockKind::kHcl:  // 16 real exponential modes, + D·a
      if (options_.long_filter == LongFilterMethod::kFft) {
        HyenaLongFilterFft(a_.data(), S, H, w.modal, fft_plans_, y_.data(), pool_);
      } else {
        HyenaLongFilterModal(a_.data(), S, H, w.modal, y_.data(), pool_);
      }
      break;
    case BlockKind::kAttn:
      break;
  }
}

std::string CpuModel::backend_name() const {
  if (options_.fp8 == Fp8Mode::kOff) return "cpu-fp32";
  return absl::StrCat("cpu-fp32+fp8-", Fp8ModeName(options_.fp8));
}

void CpuModel::HyenaMixer(const BlockWeights& b, const float* z, int64_t S, float* out) {
  const int64_t H = config_.hidden_size;
  const HyenaWeights& w = b.hyena;
  proj_.resize(static_cast<size_t>(S * 3 * H));
  q_.resize(static_cast<size_t>(S * H));
  a_.resize(static_cast<size_t>(S * H));
  y_.resize(static_cast<size_t>(S * H));
  // 1. P = projections·z  [S, 3H], columns interleaved per channel (q, k, v).
  Stage("projections", [&] {
    if (!w.projections_fp8.empty()) {
      ops::Fp8Linear(z, S, H, w.projections_fp8, nullptr, proj_.data(), 3 * H, false, fp8_scratch_);
    } else {
      ops::Linear(z, S, H, H, w.projections.data(), 3 * H, nullptr, proj_.data(), 3 * H);
    }
  });
  // 2–4. featurizer on all 3H columns, de-interleave, a = k ⊙ v.
  Stage("featurizer", [&] {
    HyenaFeaturize(proj_.data(), S, H, w.short_filter.data(), q_.data(), a_.data(), pool_);
  });
  // 5. inner filter y = Filter(a).
  Stage(BlockKindName(b.kind).data(), [&] { InnerFilter(b, S); });
  Stage("gate+out_projection", [&] {
    // 6. post-gate o = q ⊙ y (in place in y).
    pool_.ParallelFor(S, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t i = t0 * H; i < t1 * H; ++i) y_[i] *= q_[i];
    });
    // 7. out_filter_dense with bias.
    if (!w.out_fp8.empty()) {
      ops::Fp8Linear(y_.data(), S, H, w.out_fp8, w.out_bias.data(), out, H, false, fp8_scratch_);
    } else {
      ops::Linear(y_.data(), S, H, H, w.out_weight.data(), H, w.out_bias.data(), out, H);
    }
  });
}

void CpuModel::AttentionMixer(const BlockWeights& b, const float* z, int64_t S, float* out) {
  const int64_t H = config_.hidden_size;
  const AttentionWeights& w = b.attention;
  proj_.resize(static_cast<size_t>(S * 3 * H));
  y_.resize(static_cast<size_t>(S * H));
  Stage("projections", [&] {
    if (!w.wqkv_fp8.empty()) {
      ops::Fp8Linear(z, S, H, w.wqkv_fp8, nullptr, proj_.data(), 3 * H, false, fp8_scratch_);
    } else {
      ops::Linear(z, S, H, H, w.wqkv.data(), 3 * H, nullptr, proj_.data(), 3 * H);
    }
  });
  Stage("attention", [&] {
    ops::CausalAttention(proj_.data(), S, config_.num_heads, config_.head_dim,
                         Rotary(w.inv_freq, S), y_.data(), pool_);
  });
  Stage("gate+out_projection", [&] {
    if (!w.out_fp8.empty()) {
      ops::Fp8Linear(y_.data(), S, H, w.out_fp8, w.out_bias.data(), out, H, false, fp8_scratch_);
    } else {
      ops::Linear(y_.data(), S, H, H, w.out_weight.data(), H, w.out_bias.data(), out, H);
    }
  });
}


int64_t CpuModel::EstimateForwardBytes(int64_t S, const ForwardOptions& options) const {
  const int64_t H = config_.hidden_size, I = config_.inner_mlp_size, V = config_.vocab_size;
  int64_t floats = 0;
  floats += 3 * S * H;                                                 // x, z, m
  floats += 3 * S * H + 3 * S * H;                                     // proj_ [S,3H]; q_, a_, y_
  floats += std::min(S, options_.mlp_chunk_tokens) * 2 * I;            // MLP chunk
  floats += int64_t{pool_.size()} * 64 * S;                            // attention score blocks
  floats += S * config_.head_dim;                                      // rotary cos + sin
  floats += (options.logits ? S : std::min<int64_t>(S, 256)) * V + S;  // head, log-probs
  const int64_t captures =
      static_cast<int64_t>(options.layers.size() + options.hidden_after_blocks.size());
  floats += captures * S * H;
  return floats * static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<ForwardResult> CpuModel::Forward(std::span<const int32_t> tokens,
                                                const ForwardOptions& options) {
  const int64_t S = static_cast<int64_t>(tokens.size());
  const int64_t H = config_.hidden_size;
  const int64_t V = config_.vocab_size;
  RETURN_IF_ERROR(CheckForwardTokens(tokens, V));
  RETURN_IF_ERROR(ops::CheckWorkingMemory(S, EstimateForwardBytes(S, options)));
  Captures cap;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(config_, name));
    cap.named.emplace_back(tap, name);
  }
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config_.num_layers) {
      return absl::OutOfRangeError(absl::StrCat("hidden state after block ", b,
                                                " requested; the model has blocks 0..",
                                                config_.num_layers - 1));
    }
    cap.hidden_blocks.push_back(b);
  }

  ForwardResult result;
  std::vector<float> x(static_cast<size_t>(S * H));  // [S, H] residual stream
  std::vector<float> z(static_cast<size_t>(S * H));  // [S, H] normed input of a mixer
  std::vector<float> m(static_cast<size_t>(S * H));  // [S, H] mixer / MLP output
  ops::Embed(tokens, weights_.embedding.data(), H, x.data());
  cap.Store(Point::kEmbedding, -1, x.data(), 0, S, S, H, result);

  for (int bi = 0; bi < config_.num_layers; ++bi) {
    RETURN_IF_ERROR(CancelledAt(options.cancelled, bi, config_.num_layers));
    const BlockWeights& b = weights_.blocks[static_cast<size_t>(bi)];
    // x = u + Mixer(RMSNorm_pre(u))
    Stage("norms",
          [&] { ops::RmsNorm(x.data(), S, H, b.pre_norm.data(), config_.eps, z.data(), pool_); });
    cap.Store(Point::kPreNorm, bi, z.data(), 0, S, S, H, result);
    if (b.kind == BlockKind::kAttn) {
      AttentionMixer(b, z.data(), S, m.data());
    } else {
      HyenaMixer(b, z.data(), S, m.data());
    }
    if (mixer_observer_) {
      mixer_observer_(bi, proj_.data(), b.kind == BlockKind::kAttn ? nullptr : a_.data(), S);
    }
    cap.Store(Point::kMixer, bi, m.data(), 0, S, S, H, result);
    pool_.ParallelFor(S, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t i = t0 * H; i < t1 * H; ++i) x[i] += m[i];
    });
    // x = x + MLP(RMSNorm_post(x)), position-wise, in chunks to bound the [chunk, 2I] buffer.
    const GateActivation act = bi == 0 ? GateActivation::kGeluErf : GateActivation::kIdentity;
    for (int64_t t0 = 0; t0 < S; t0 += options_.mlp_chunk_tokens) {
      const int64_t rows = std::min(options_.mlp_chunk_tokens, S - t0);
      float* xc = x.data() + t0 * H;
      float* zc = z.data() + t0 * H;
      float* mc = m.data() + t0 * H;
      Stage("norms",
            [&] { ops::RmsNorm(xc, rows, H, b.post_norm.data(), config_.eps, zc, pool_); });
      cap.Store(Point::kPostNorm, bi, zc, t0, rows, S, H, result);
      Stage("mlp", [&] { GatedMlp(zc, rows, b.mlp, act, mc, mlp_ws_, pool_); });
      cap.Store(Point::kMlp, bi, mc, t0, rows, S, H, result);
      for (int64_t i = 0; i < rows * H; ++i) xc[i] += mc[i];
    }
    cap.Store(Point::kBlockOutput, bi, x.data(), 0, S, S, H, result);
    for (int hb : cap.hidden_blocks) {
      if (hb == bi) result.hidden[bi] = x;
    }
  }

  std::vector<float> final_norm;
  LmHeadOutputs outs;
  outs.log_probs = options.log_probs ? &result.log_probs : nullptr;
  outs.logits = options.logits ? &result.logits : nullptr;
  outs.final_norm = cap.Wants(Point::kFinalNorm, -1) ? &final_norm : nullptr;
  if (outs.log_probs || outs.logits || outs.final_norm) {
    Stage("head", [&] {
      LmHead(x.data(), S, H, weights_.final_norm.data(), config_.eps, weights_.embedding.data(), V,
             tokens, outs, pool_);
    });
  }
  if (outs.final_norm) cap.Store(Point::kFinalNorm, -1, final_norm.data(), 0, S, S, H, result);
  return result;
}

}  // namespace evo2::cpu
