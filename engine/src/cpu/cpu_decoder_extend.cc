// CpuDecoder::Extend (evo2/decoder.h): a suffix of L tokens per sequence through the parallel
// forward (the [L, ·] GEMMs, featurizer, filters and attention of CpuModel::Forward), seeded with
// the sequence's cached state the way a context-parallel chunk is seeded with its past
// (docs/parallelism.md §2–4):
//   featurizer   the 2 cached projection rows prepended as a halo: [2 + L, 3H]
//   hcs / hcm    the 6 / 127 cached a rows prepended as a halo:    [K − 1 + L, H]
//   hcl          the modal recurrence started from the cached 16-mode state (the state is known
//                before the run, so no rank-16 correction afterwards is needed)
//   attention    the suffix's queries at offset `position` against the cache plus its own keys
// Rows of a halo are outputs of the op too, computed from a history that is not there; they are
// dropped. Each op sees exactly the inputs it sees at those positions in one forward over the
// whole sequence, so Extend agrees with that forward up to GEMM rounding.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cpu/cpu_decoder.h"
#include "cpu/gated_mlp.h"
#include "cpu/hyena_featurizer.h"
#include "cpu/hyena_long_filter.h"
#include "cpu/hyena_medium_filter.h"
#include "cpu/hyena_short_filter.h"
#include "cpu/lm_head.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"
#include "ops/rotary.h"

namespace evo2::cpu {

namespace {

constexpr int64_t kMlpChunk = 1024;  // positions per MLP chunk, as CpuOptions' default

}  // namespace

absl::StatusOr<std::vector<float>> CpuDecoder::Extend(
    std::span<const std::vector<int32_t>> suffixes) {
  if (sequences_.empty()) {
    return absl::FailedPreconditionError("Extend: no sequences (Prefill first)");
  }
  if (suffixes.size() != sequences_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Extend: ", suffixes.size(), " suffixes for a batch of ", sequences_.size()));
  }
  for (size_t i = 0; i < suffixes.size(); ++i) {
    if (suffixes[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Extend: suffix ", i, " is empty"));
    }
    if (auto st = CheckForwardTokens(suffixes[i], config_.vocab_size); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("Extend: suffix ", i, ": ", st.message()));
    }
  }
  std::vector<float> logits;  // [Σ L_i, V]
  for (size_t i = 0; i < suffixes.size(); ++i) {
    if (auto st = ExtendOne(sequences_[i], suffixes[i], logits); !st.ok()) {
      sequences_.clear();  // states are updated block by block: a half-extended batch is unusable
      return absl::Status(st.code(), absl::StrCat("Extend: suffix ", i, ": ", st.message()));
    }
  }
  return logits;
}

absl::Status CpuDecoder::ExtendOne(Sequence& seq, std::span<const int32_t> suffix,
                                   std::vector<float>& logits) {
  const int64_t L = static_cast<int64_t>(suffix.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  std::vector<float> x(static_cast<size_t>(L * H));  // [L, H] residual stream
  std::vector<float> z(static_cast<size_t>(L * H));  // [L, H] normed input
  std::vector<float> m(static_cast<size_t>(L * H));  // [L, H] mixer / MLP output
  ops::Embed(suffix, weights_.embedding.data(), H, x.data());
  for (int bi = 0; bi < config_.num_layers; ++bi) {
    RETURN_IF_ERROR(CancelledAt(options_.cancelled, bi, config_.num_layers));
    const BlockWeights& b = weights_.blocks[static_cast<size_t>(bi)];
    HyenaBlockState& st = seq.blocks[static_cast<size_t>(bi)];
    ops::RmsNorm(x.data(), L, H, b.pre_norm.data(), config_.eps, z.data(), pool_);
    if (b.kind == BlockKind::kAttn) {
      AttentionMixerExtend(b, st, seq.position, z.data(), L, m.data());
    } else {
      HyenaMixerExtend(b, st, seq.position, z.data(), L, m.data());
    }
    for (int64_t i = 0; i < L * H; ++i) x[i] += m[i];
    const GateActivation act = bi == 0 ? GateActivation::kGeluErf : GateActivation::kIdentity;
    for (int64_t t0 = 0; t0 < L; t0 += kMlpChunk) {
      const int64_t rows = std::min(kMlpChunk, L - t0);
      float* xc = x.data() + t0 * H;
      ops::RmsNorm(xc, rows, H, b.post_norm.data(), config_.eps, z.data() + t0 * H, pool_);
      GatedMlp(z.data() + t0 * H, rows, b.mlp, act, m.data() + t0 * H, mlp_ws_, pool_);
      for (int64_t i = 0; i < rows * H; ++i) xc[i] += m[t0 * H + i];
    }
  }
  seq.position += L;
  std::vector<float> lg;  // [L, V]
  LmHeadOutputs outs;
  outs.logits = &lg;
  LmHead(x.data(), L, H, weights_.final_norm.data(), config_.eps, weights_.embedding.data(), V,
         suffix, outs, pool_);
  logits.insert(logits.end(), lg.begin(), lg.end());
  return absl::OkStatus();
}

void CpuDecoder::HyenaMixerExtend(const BlockWeights& b, HyenaBlockState& st, int64_t position,
                                  const float* z, int64_t L, float* m) {
  const int64_t H = config_.hidden_size, W = 3 * H;
  const HyenaWeights& w = b.hyena;
  // 1. proj_ [2 + L, 3H]: the cached rows P[t−2], P[t−1], then P = projections·z.
  proj_.resize(static_cast<size_t>((2 + L) * W));
  std::copy_n(st.proj_tail.data(), 2 * W, proj_.data());
  ops::Linear(z, L, H, H, w.projections.data(), W, nullptr, proj_.data() + 2 * W, W);
  // 2–4. featurizer over the 2 + L rows; q_, a_ [2 + L, H], rows ≥ 2 are the suffix's.
  q_.resize(static_cast<size_t>((2 + L) * H));
  a_.resize(static_cast<size_t>((2 + L) * H));
  HyenaFeaturize(proj_.data(), 2 + L, H, w.short_filter.data(), q_.data(), a_.data(), pool_);
  std::copy_n(proj_.data() + L * W, 2 * W, st.proj_tail.data());
  const float* q = q_.data() + 2 * H;  // [L, H]
  const float* a = a_.data() + 2 * H;  // [L, H]
  // 5. inner filter → y [L, H].
  float* y = nullptr;
  if (b.kind == BlockKind::kHcl) {
    y_.resize(static_cast<size_t>(L * H));
    HyenaLongFilterModal(a, L, H, w.modal, y_.data(), pool_, st.modal.data(), st.modal.data());
    y = y_.data();
  } else {
    // hist_ [n + L, H]: a[t−n..t−1] from the ring (zeros before position 0), then the suffix.
    const int64_t K = w.fir_length, n = K - 1;
    hist_.assign(static_cast<size_t>((n + L) * H), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t tau = position - n + j;
      if (tau >= 0) std::copy_n(st.fir_tail.data() + (tau % n) * H, H, hist_.data() + j * H);
    }
    std::copy_n(a, L * H, hist_.data() + n * H);
    y_.resize(static_cast<size_t>((n + L) * H));
    if (b.kind == BlockKind::kHcs) {
      HyenaShortFilter(hist_.data(), n + L, H, w.fir_taps.data(), K, y_.data(), pool_);
    } else {
      HyenaMediumFilter(hist_.data(), n + L, H, w.fir_taps.data(), K, w.skip.data(), y_.data(),
                        pool_);
    }
    y = y_.data() + n * H;
    for (int64_t tau = std::max(position, position + L - n); tau < position + L; ++tau) {
      std::copy_n(a + (tau - position) * H, H, st.fir_tail.data() + (tau % n) * H);
    }
  }
  // 6. post-gate o = q ⊙ y;  7. out_filter_dense with bias.
  for (int64_t i = 0; i < L * H; ++i) y[i] *= q[i];
  ops::Linear(y, L, H, H, w.out_weight.data(), H, w.out_bias.data(), m, H);
}

void CpuDecoder::AttentionMixerExtend(const BlockWeights& b, HyenaBlockState& st, int64_t position,
                                      const float* z, int64_t L, float* m) {
  const int64_t H = config_.hidden_size;
  const AttentionWeights& w = b.attention;
  const int64_t heads = config_.num_heads, d = config_.head_dim, half = d / 2, ld = 3 * heads * d;
  // qkv [L, 3·heads·d], per-head order: head h's q, k, v at h·3d, h·3d + d, h·3d + 2d.
  proj_.resize(static_cast<size_t>(L * ld));
  ops::Linear(z, L, H, H, w.wqkv.data(), ld, nullptr, proj_.data(), ld);
  // Rotary of q and k at the absolute positions (the cos/sin rows the parallel path's table has).
  pool_.ParallelFor(L, 16, [&](int64_t t0, int64_t t1) {
    std::vector<float> cos(static_cast<size_t>(half)), sin(static_cast<size_t>(half));
    for (int64_t t = t0; t < t1; ++t) {
      float* row = proj_.data() + t * ld;
      ops::RotaryRow(w.inv_freq.data(), half, position + t, config_.rotary_position_scale,
                     cos.data(), sin.data());
      for (int64_t h = 0; h < heads; ++h) {
        ops::ApplyRotaryRow(row + h * 3 * d, cos.data(), sin.data(), half);
        ops::ApplyRotaryRow(row + h * 3 * d + d, cos.data(), sin.data(), half);
      }
    }
  });
  // The suffix's keys and values join the cache: [position + L, heads·d] each.
  st.kv.Reserve(st.kv.length() + L);
  std::vector<float> k(static_cast<size_t>(heads * d)), v(static_cast<size_t>(heads * d));
  for (int64_t t = 0; t < L; ++t) {
    const float* row = proj_.data() + t * ld;
    for (int64_t h = 0; h < heads; ++h) {
      std::copy_n(row + h * 3 * d + d, d, k.data() + h * d);
      std::copy_n(row + h * 3 * d + 2 * d, d, v.data() + h * d);
    }
    st.kv.Append(k.data(), v.data());
  }
  // Queries at positions position.. against keys 0..q (the context-parallel chunk's offset form).
  y_.resize(static_cast<size_t>(L * heads * d));
  const int64_t kw = st.kv.row_width();
  ops::CausalSoftmaxAttention({.q = proj_.data(),
                               .ldq = ld,
                               .q_head_stride = 3 * d,
                               .k = st.kv.keys(),
                               .ldk = kw,
                               .k_head_stride = d,
                               .v = st.kv.values(),
                               .ldv = kw,
                               .v_head_stride = d,
                               .num_heads = heads,
                               .num_kv_heads = heads,
                               .head_dim = d,
                               .query_offset = position},
                              L, y_.data(), pool_);
  ops::Linear(y_.data(), L, H, H, w.out_weight.data(), H, w.out_bias.data(), m, H);
}

}  // namespace evo2::cpu
