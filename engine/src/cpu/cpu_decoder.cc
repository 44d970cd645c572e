#include "cpu/cpu_decoder.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/cpu_model.h"
#include "cpu/gated_mlp.h"
#include "cpu/lm_head.h"
#include "evo2/status_macros.h"
#include "model/decoder_util.h"
#include "ops/embedding.h"
#include "ops/kv_cache.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"
#include "ops/rotary.h"

namespace evo2::cpu {

absl::StatusOr<std::unique_ptr<Decoder>> CpuModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new CpuDecoder(*this, config_, weights_, pool_, options));
}

CpuDecoder::CpuDecoder(CpuModel& model, const ModelConfig& config, const Weights& weights,
                       ops::ThreadPool& pool, DecoderOptions options)
    : model_(model), config_(config), weights_(weights), pool_(pool), options_(options) {}

absl::StatusOr<CpuDecoder::Sequence> CpuDecoder::PrefillOne(std::span<const int32_t> prompt,
                                                            std::vector<float>& logits) {
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  Sequence seq;
  for (const BlockWeights& b : weights_.blocks) {
    seq.blocks.push_back(EmptyBlockState(b, H, config_.HeadsTimesDim()));
  }
  model_.set_mixer_observer([&](int bi, const float* proj, const float* a, int64_t S) {
    const BlockWeights& b = weights_.blocks[static_cast<size_t>(bi)];
    HyenaBlockState& st = seq.blocks[static_cast<size_t>(bi)];
    if (b.kind == BlockKind::kAttn) {
      DeriveAttentionState(proj, S, config_.num_heads, config_.head_dim, st);
    } else {
      DeriveHyenaState(b, proj, a, S, H, st, pool_);
    }
  });
  absl::Cleanup unhook = [&] { model_.set_mixer_observer(nullptr); };
  RETURN_IF_ERROR(ForwardLastLogits(model_, prompt, options_.cancelled, V, logits));
  seq.position = static_cast<int64_t>(prompt.size());
  return seq;
}

absl::StatusOr<std::vector<float>> CpuDecoder::Prefill(
    std::span<const std::vector<int32_t>> prompts) {
  sequences_.clear();
  std::vector<float> logits;  // [B, V]
  std::vector<Sequence> seqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Prefill: prompt ", i, " is empty"));
    }
    auto seq = PrefillOne(prompts[i], logits);
    if (!seq.ok()) return PromptError(i, seq.status());
    seqs.push_back(std::move(*seq));
  }
  sequences_ = std::move(seqs);
  return logits;
}

absl::Status CpuDecoder::Select(std::span<const int64_t> rows) {
  return SelectRows(sequences_, rows);
}

void CpuDecoder::MixerStep(int bi, const float* z, float* m) {
  const BlockWeights& b = weights_.blocks[static_cast<size_t>(bi)];
  const int64_t B = batch_size(), H = config_.hidden_size;
  proj_.resize(static_cast<size_t>(B * 3 * H));
  y_.resize(static_cast<size_t>(B * H));
  if (b.kind == BlockKind::kAttn) {
    const AttentionWeights& w = b.attention;
    const int64_t heads = config_.num_heads, d = config_.head_dim, half = d / 2;
    // qkv [B, 3H], per-head order: head h's q, k, v at h·3d, h·3d + d, h·3d + 2d.
    ops::Linear(z, B, H, H, w.wqkv.data(), 3 * H, nullptr, proj_.data(), 3 * H);
    // Rotary at each sequence's own position, then append k, v to its cache.
    pool_.ParallelFor(B, 1, [&](int64_t i0, int64_t i1) {
      std::vector<float> cos(static_cast<size_t>(half)), sin(static_cast<size_t>(half));
      std::vector<float> k(static_cast<size_t>(H)), v(static_cast<size_t>(H));
      for (int64_t i = i0; i < i1; ++i) {
        Sequence& seq = sequences_[static_cast<size_t>(i)];
        float* row = proj_.data() + i * 3 * H;
        ops::RotaryRow(w.inv_freq.data(), half, seq.position, config_.rotary_position_scale,
                       cos.data(), sin.data());
        for (int64_t h = 0; h < heads; ++h) {
          ops::ApplyRotaryRow(row + h * 3 * d, cos.data(), sin.data(), half);
          ops::ApplyRotaryRow(row + h * 3 * d + d, cos.data(), sin.data(), half);
          std::copy_n(row + h * 3 * d + d, d, k.data() + h * d);
          std::copy_n(row + h * 3 * d + 2 * d, d, v.data() + h * d);
        }
        seq.blocks[static_cast<size_t>(bi)].kv.Append(k.data(), v.data());
      }
    });
    // Attention per (sequence, head) over the sequence's cache.
    pool_.ParallelFor(B * heads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t task = t0; task < t1; ++task) {
        const int64_t i = task / heads, h = task % heads;
        const ops::KvCache& kv =
            sequences_[static_cast<size_t>(i)].blocks[static_cast<size_t>(bi)].kv;
        ops::DecodeAttentionHead(proj_.data() + i * 3 * H + h * 3 * d, d, kv, h * d,
                                 y_.data() + i * H + h * d);
      }
    });
    ops::Linear(y_.data(), B, H, H, w.out_weight.data(), H, w.out_bias.data(), m, H);
    return;
  }
  const HyenaWeights& w = b.hyena;
  // P [B, 3H] = projections·z, then per channel range: featurizer, filter, gate → y [B, H].
  ops::Linear(z, B, H, H, w.projections.data(), 3 * H, nullptr, proj_.data(), 3 * H);
  pool_.ParallelFor(H, 32, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < B; ++i) {
      Sequence& seq = sequences_[static_cast<size_t>(i)];
      HyenaStepChannels(b, proj_.data() + i * 3 * H, seq.position, H, c0, c1,
                        seq.blocks[static_cast<size_t>(bi)], y_.data() + i * H);
    }
  });
  ops::Linear(y_.data(), B, H, H, w.out_weight.data(), H, w.out_bias.data(), m, H);
}

absl::StatusOr<std::vector<float>> CpuDecoder::Step(std::span<const int32_t> tokens) {
  const int64_t B = batch_size(), H = config_.hidden_size, V = config_.vocab_size;
  if (auto st = CheckStepTokens(tokens, B, V, options_.cancelled); !st.ok()) {
    if (st.code() == absl::StatusCode::kCancelled) sequences_.clear();
    return st;
  }
  // OpenBLAS's threads cost more than they save on GEMMs this small (a [B, H] x [H, 3H]
  // projection of the demo model is ~0.2 MFLOP); single-threaded BLAS for such steps.
  const bool small_gemms = B * H * H < (int64_t{1} << 22);
  if (small_gemms) ops::SetBlasThreads(1);
  absl::Cleanup restore_blas = [&] {
    if (small_gemms) ops::SetBlasThreads(pool_.size());
  };
  std::vector<float> x(static_cast<size_t>(B * H));  // [B, H] residual stream
  std::vector<float> z(static_cast<size_t>(B * H));  // [B, H] normed input
  std::vector<float> m(static_cast<size_t>(B * H));  // [B, H] mixer / MLP output
  ops::Embed(tokens, weights_.embedding.data(), H, x.data());
  for (int bi = 0; bi < config_.num_layers; ++bi) {
    const BlockWeights& b = weights_.blocks[static_cast<size_t>(bi)];
    ops::RmsNorm(x.data(), B, H, b.pre_norm.data(), config_.eps, z.data(), pool_);
    MixerStep(bi, z.data(), m.data());
    for (int64_t i = 0; i < B * H; ++i) x[i] += m[i];
    ops::RmsNorm(x.data(), B, H, b.post_norm.data(), config_.eps, z.data(), pool_);
    const GateActivation act = bi == 0 ? GateActivation::kGeluErf : GateActivation::kIdentity;
    GatedMlp(z.data(), B, b.mlp, act, m.data(), mlp_ws_, pool_);
    for (int64_t i = 0; i < B * H; ++i) x[i] += m[i];
  }
  for (Sequence& seq : sequences_) ++seq.position;
  std::vector<float> logits;  // [B, V]
  LmHeadOutputs outs;
  outs.logits = &logits;
  LmHead(x.data(), B, H, weights_.final_norm.data(), config_.eps, weights_.embedding.data(), V,
         tokens, outs, pool_);
  return logits;
}

}  // namespace evo2::cpu
