#include "parallel/rank_forward.h"

#include <algorithm>

#include "cpu/gated_mlp.h"
#include "cpu/hyena_featurizer.h"
#include "cpu/hyena_medium_filter.h"
#include "cpu/hyena_short_filter.h"
#include "evo2/status_macros.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"
#include "parallel/cp_attention.h"
#include "parallel/cp_halo.h"
#include "parallel/cp_long_filter.h"
#include "parallel/sequence_split.h"
#include "parallel/vocab_parallel_head.h"

namespace evo2::parallel {
namespace {

using Point = LayerTap::Point;

// One forward of one rank: the split, the communicators and the [L, *] buffers.
class RankPass {
 public:
  RankPass(const ModelConfig& c, RankState& rank, Communicator& tp, Communicator& cp,
           std::span<const int32_t> tokens, const LayerTaps& taps, ForwardResult& result)
      : c_(c),
        rank_(rank),
        w_(*rank.weights),
        tp_(tp),
        cp_(cp),
        pool_(*rank.pool),
        split_(static_cast<int64_t>(tokens.size()), cp.size()),
        tokens_(tokens),
        taps_(taps),
        result_(result),
        H_(c.hidden_size),
        Hl_(c.hidden_size / tp.size()),
        L_(split_.LocalRows()) {}

  absl::Status Run(const ForwardOptions& options) {
    std::vector<float> x(static_cast<size_t>(L_ * H_));  // [L, H] residual stream
    std::vector<float> z(static_cast<size_t>(L_ * H_));  // [L, H] normed input
    std::vector<float> m(static_cast<size_t>(L_ * H_));  // [L, H] mixer / MLP output
    RETURN_IF_ERROR(Embed(x.data()));
    Store(Point::kEmbedding, -1, x.data());
    for (int bi = 0; bi < c_.num_layers; ++bi) {
      RETURN_IF_ERROR(CancelledAt(options.cancelled, bi, c_.num_layers));
      const cpu::BlockWeights& b = w_.blocks[static_cast<size_t>(bi)];
      ops::RmsNorm(x.data(), L_, H_, b.pre_norm.data(), c_.eps, z.data(), pool_);
      Store(Point::kPreNorm, bi, z.data());
      if (b.kind == BlockKind::kAttn) {
        RETURN_IF_ERROR(AttentionMixer(b, z.data(), m.data()));
      } else {
        RETURN_IF_ERROR(HyenaMixer(b, z.data(), m.data()));
      }
      Store(Point::kMixer, bi, m.data());
      for (int64_t i = 0; i < L_ * H_; ++i) x[i] += m[i];
      ops::RmsNorm(x.data(), L_, H_, b.post_norm.data(), c_.eps, z.data(), pool_);
      Store(Point::kPostNorm, bi, z.data());
      // MLP: l1/l2 column-parallel, l3 row-parallel → partial sums, one all-reduce.
      const auto act = bi == 0 ? cpu::GateActivation::kGeluErf : cpu::GateActivation::kIdentity;
      for (int64_t t0 = 0; t0 < L_; t0 += kMlpChunk) {
        const int64_t rows = std::min(kMlpChunk, L_ - t0);
        cpu::GatedMlp(z.data() + t0 * H_, rows, b.mlp, act, m.data() + t0 * H_, mlp_ws_, pool_);
      }
      RETURN_IF_ERROR(AllReduceTp(m));
      Store(Point::kMlp, bi, m.data());
      for (int64_t i = 0; i < L_ * H_; ++i) x[i] += m[i];
      Store(Point::kBlockOutput, bi, x.data());
      auto hidden = result_.hidden.find(bi);
      if (hidden != result_.hidden.end()) StoreRows(x.data(), hidden->second);
    }
    return Head(options, x.data());
  }

 private:
  static constexpr int64_t kMlpChunk = 1024;  // bounds the [chunk, 2I/TP] MLP buffer

  absl::Status AllReduceTp(std::vector<float>& v) {
    if (tp_.size() == 1) return absl::OkStatus();
    return tp_.AllReduce(std::span<float>(v), ReduceOp::kSum);
  }

  // Vocab-parallel lookup: rows of tokens outside this rank's shard are zero; the all-reduce
  // fills them in. Padding positions (≥ S) take the pad id 1.
  absl::Status Embed(float* x) {
    const int64_t Vl = c_.vocab_size / tp_.size(), v0 = tp_.rank() * Vl;
    std::fill(x, x + L_ * H_, 0.0f);
    for (int64_t r = 0; r < L_; ++r) {
      const int64_t pos = split_.Position(cp_.rank(), r);
      const int64_t tok = pos < split_.tokens() ? tokens_[static_cast<size_t>(pos)] : 1;
      if (tok >= v0 && tok < v0 + Vl) {
        std::copy_n(w_.embedding.data() + (tok - v0) * H_, H_, x + r * H_);
      }
    }
    if (tp_.size() == 1) return absl::OkStatus();
    return tp_.AllReduce(std::span<float>(x, static_cast<size_t>(L_ * H_)), ReduceOp::kSum);
  }

  // Runs a FIR-like op over each local chunk with `halo` rows of context prepended:
  // op(in [halo + Lc, width], rows, out [halo + Lc, out_width]); keeps rows ≥ halo.
  template <typename Op>
  absl::Status PerChunkWithHalo(const float* in, int64_t width, int64_t halo, float* out,
                                int64_t out_width, Op&& op) {
    std::vector<std::vector<float>> ext;
    RETURN_IF_ERROR(ChunksWithHalo(split_, cp_, in, width, halo, ext));
    const int64_t Lc = split_.chunk_tokens();
    std::vector<float> ext_out(static_cast<size_t>((halo + Lc) * out_width));
    for (size_t j = 0; j < ext.size(); ++j) {
      op(ext[j].data(), halo + Lc, ext_out.data());
      std::copy_n(ext_out.data() + halo * out_width, Lc * out_width,
                  out + static_cast<int64_t>(j) * Lc * out_width);
    }
    return absl::OkStatus();
  }

  absl::Status HyenaMixer(const cpu::BlockWeights& b, const float* z, float* out) {
    const cpu::HyenaWeights& w = b.hyena;
    const int64_t Hl = Hl_;
    proj_.resize(static_cast<size_t>(L_ * 3 * Hl));
    q_.resize(static_cast<size_t>(L_ * Hl));
    a_.resize(static_cast<size_t>(L_ * Hl));
    y_.resize(static_cast<size_t>(L_ * Hl));
    // 1. P = z · projections_localᵀ  [L, 3H/TP]: this rank's channel triples.
    ops::Linear(z, L_, H_, H_, w.projections.data(), 3 * Hl, nullptr, proj_.data(), 3 * Hl);
    // 2–4. featurizer (3 taps: halo 2 rows of P), de-interleave, a = k ⊙ v, per local chunk.
    {
      std::vector<std::vector<float>> ext;
      RETURN_IF_ERROR(ChunksWithHalo(split_, cp_, proj_.data(), 3 * Hl, 2, ext));
      const int64_t Lc = split_.chunk_tokens();
      std::vector<float> qe(static_cast<size_t>((2 + Lc) * Hl)), ae(qe.size());
      for (size_t j = 0; j < ext.size(); ++j) {
        cpu::HyenaFeaturize(ext[j].data(), 2 + Lc, Hl, w.short_filter.data(), qe.data(), ae.data(),
                            pool_);
        const int64_t row0 = static_cast<int64_t>(j) * Lc;
        std::copy_n(qe.data() + 2 * Hl, Lc * Hl, q_.data() + row0 * Hl);
        std::copy_n(ae.data() + 2 * Hl, Lc * Hl, a_.data() + row0 * Hl);
      }
    }
    // 5. inner filter y = Filter(a) on this rank's channels.
    const int64_t K = w.fir_length;
    switch (b.kind) {
      case BlockKind::kHcs:  // halo K−1 = 6
        RETURN_IF_ERROR(PerChunkWithHalo(
            a_.data(), Hl, K - 1, y_.data(), Hl, [&](const float* in, int64_t rows, float* o) {
              cpu::HyenaShortFilter(in, rows, Hl, w.fir_taps.data(), K, o, pool_);
            }));
        break;
      case BlockKind::kHcm:  // halo K−1 = 127
        RETURN_IF_ERROR(PerChunkWithHalo(
            a_.data(), Hl, K - 1, y_.data(), Hl, [&](const float* in, int64_t rows, float* o) {
              cpu::HyenaMediumFilter(in, rows, Hl, w.fir_taps.data(), K, w.skip.data(), o, pool_);
            }));
        break;
      case BlockKind::kHcl:
        RETURN_IF_ERROR(
            HyenaLongFilterContextParallel(split_, cp_, a_.data(), Hl, w.modal, y_.data(), pool_));
        break;
      case BlockKind::kAttn:
        break;
    }
    // 6. o = q ⊙ y;  7. row-parallel output projection, all-reduce, then the bias once.
    for (int64_t i = 0; i < L_ * Hl; ++i) y_[i] *= q_[i];
    return RowParallelOut(y_.data(), Hl, w.out_weight.data(), w.out_bias.data(), out);
  }

  absl::Status AttentionMixer(const cpu::BlockWeights& b, const float* z, float* out) {
    const cpu::AttentionWeights& w = b.attention;
    const int64_t d = c_.head_dim, heads = c_.num_heads / tp_.size(), width = heads * d;
    proj_.resize(static_cast<size_t>(L_ * 3 * width));
    y_.resize(static_cast<size_t>(L_ * width));
    ops::Linear(z, L_, H_, H_, w.wqkv.data(), 3 * width, nullptr, proj_.data(), 3 * width);
    RETURN_IF_ERROR(CausalAttentionContextParallel(split_, cp_, proj_.data(), heads, d,
                                                   Rotary(w.inv_freq), y_.data(), pool_));
    return RowParallelOut(y_.data(), width, w.out_weight.data(), w.out_bias.data(), out);
  }

  // out [L, H] = all-reduce_TP(in [L, in_width] · W_localᵀ) + bias.
  absl::Status RowParallelOut(const float* in, int64_t in_width, const float* weight,
                              const float* bias, float* out) {
    ops::Linear(in, L_, in_width, in_width, weight, H_, nullptr, out, H_);
    if (tp_.size() > 1) {
      RETURN_IF_ERROR(
          tp_.AllReduce(std::span<float>(out, static_cast<size_t>(L_ * H_)), ReduceOp::kSum));
    }
    for (int64_t r = 0; r < L_; ++r) {
      for (int64_t o = 0; o < H_; ++o) out[r * H_ + o] += bias[o];
    }
    return absl::OkStatus();
  }

  const ops::RotaryTable& Rotary(const std::vector<float>& inv_freq) {
    ops::RotaryTable& t = rank_.rotary[inv_freq];
    const int64_t need = split_.padded_tokens();
    if (t.positions < need) {
      t = ops::MakeRotaryTable(inv_freq.data(), static_cast<int64_t>(inv_freq.size()), need,
                               c_.rotary_position_scale);
    }
    return t;
  }

  absl::Status Head(const ForwardOptions& options, const float* x) {
    float* final_norm = nullptr;
    for (const auto& [tap, name] : taps_) {
      if (tap.point == Point::kFinalNorm) final_norm = result_.layers.at(name).data();
    }
    HeadOutputs out{.log_probs = options.log_probs ? result_.log_probs.data() : nullptr,
                    .logits = options.logits ? result_.logits.data() : nullptr,
                    .final_norm = final_norm};
    if (!out.log_probs && !out.logits && !out.final_norm) return absl::OkStatus();
    const int64_t Vl = c_.vocab_size / tp_.size();
    HeadShard head{.final_norm = w_.final_norm.data(),
                   .eps = c_.eps,
                   .embedding = w_.embedding.data(),
                   .vocab = c_.vocab_size,
                   .v0 = tp_.rank() * Vl,
                   .rows = Vl};
    RETURN_IF_ERROR(VocabParallelHead(split_, cp_.rank(), tp_, x, H_, head, tokens_, out, pool_));
    if (final_norm != nullptr) {  // other names of the same tap get a copy (TP rank 0 wrote it)
      for (const auto& [tap, name] : taps_) {
        float* dst = result_.layers.at(name).data();
        if (tap.point == Point::kFinalNorm && dst != final_norm && tp_.rank() == 0) {
          CopyOwnRows(final_norm, dst);
        }
      }
    }
    return absl::OkStatus();
  }

  // Rows of this rank's positions from one [S, H] array into another.
  void CopyOwnRows(const float* src, float* dst) const {
    for (int64_t r = 0; r < L_; ++r) {
      const int64_t pos = split_.Position(cp_.rank(), r);
      if (pos < split_.tokens()) std::copy_n(src + pos * H_, H_, dst + pos * H_);
    }
  }

  // local [L, H] → dst [S, H] at this rank's positions (TP rank 0 only: TP ranks hold copies).
  void StoreRows(const float* local, std::vector<float>& dst) const {
    if (tp_.rank() != 0) return;
    for (int64_t r = 0; r < L_; ++r) {
      const int64_t pos = split_.Position(cp_.rank(), r);
      if (pos < split_.tokens()) std::copy_n(local + r * H_, H_, dst.data() + pos * H_);
    }
  }

  void Store(Point p, int block, const float* local) {
    for (const auto& [tap, name] : taps_) {
      if (tap.point == p && tap.block == block) StoreRows(local, result_.layers.at(name));
    }
  }

  const ModelConfig& c_;
  RankState& rank_;
  const cpu::Weights& w_;
  Communicator& tp_;
  Communicator& cp_;
  ops::ThreadPool& pool_;
  SequenceSplit split_;
  std::span<const int32_t> tokens_;
  const LayerTaps& taps_;
  ForwardResult& result_;
  const int64_t H_, Hl_, L_;
  std::vector<float> proj_, q_, a_, y_;  // [L, 3H/TP], [L, H/TP] x 3
  cpu::MlpWorkspace mlp_ws_;            // MLP chunk
};

}  // namespace

absl::Status RankForward(const ModelConfig& config, RankState& rank, Communicator& tp,
                         Communicator& cp, std::span<const int32_t> tokens,
                         const ForwardOptions& options, const LayerTaps& taps,
                         ForwardResult& result) {
  RankPass pass(config, rank, tp, cp, tokens, taps, result);
  return pass.Run(options);
}

}  // namespace evo2::parallel
