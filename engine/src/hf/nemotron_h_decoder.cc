#include "hf/nemotron_h_decoder.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "hf/hf_ops.h"
#include "hf/nemotron_h_mlp.h"
#include "hf/nemotron_h_model.h"
#include "model/decoder_util.h"
#include "ops/embedding.h"
#include "ops/linear.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Decoder>> NemotronHModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new NemotronHDecoder(*this, options));
}

int64_t NemotronHDecoder::vocab_size() const { return model_.config_.vocab_size; }

absl::StatusOr<std::vector<float>> NemotronHDecoder::Prefill(
    std::span<const std::vector<int32_t>> prompts) {
  const NemotronHConfig& c = model_.config_;
  const int64_t V = c.vocab_size, kvd = c.num_key_value_heads * c.attention_head_dim;
  const size_t L = static_cast<size_t>(c.num_layers());
  sequences_.clear();
  std::vector<Sequence> seqs;
  std::vector<float> logits;  // [B, V]
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Prefill: prompt ", i, " is empty"));
    }
    Sequence seq;
    seq.mamba.resize(L);
    seq.kv.assign(L, ops::KvCache(kvd));
    model_.set_mixer_observer([&](int64_t l, int64_t S) {
      switch (model_.weights_.layers[static_cast<size_t>(l)].kind) {
        case NemotronHLayerKind::kMamba:
          model_.mamba_.SaveState(seq.mamba[static_cast<size_t>(l)]);
          break;
        case NemotronHLayerKind::kAttention:
          seq.kv[static_cast<size_t>(l)].AppendRows(model_.attention_.keys().data(), kvd,
                                                    model_.attention_.values().data(), kvd, S);
          break;
        case NemotronHLayerKind::kMlp:
          break;
      }
    });
    absl::Cleanup unhook = [&] { model_.set_mixer_observer(nullptr); };
    if (auto st = ForwardLastLogits(model_, prompts[i], options_.cancelled, V, logits); !st.ok()) {
      return PromptError(i, st);
    }
    seq.position = static_cast<int64_t>(prompts[i].size());
    seqs.push_back(std::move(seq));
  }
  sequences_ = std::move(seqs);
  return logits;
}

absl::Status NemotronHDecoder::Select(std::span<const int64_t> rows) {
  return SelectRows(sequences_, rows);
}

absl::StatusOr<std::vector<float>> NemotronHDecoder::Step(std::span<const int32_t> tokens) {
  const NemotronHConfig& c = model_.config_;
  const int64_t B = batch_size(), H = c.hidden_size, V = c.vocab_size;
  const int64_t nq = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t d = c.attention_head_dim, qd = nq * d, kvd = nkv * d, group = nq / nkv;
  RETURN_IF_ERROR(CheckStepTokens(tokens, B, V, options_.cancelled));
  ops::ThreadPool& pool = model_.pool_;
  const NemotronHWeights& weights = model_.weights_;
  std::vector<float> x(static_cast<size_t>(B * H));  // [B, H] residual stream
  std::vector<float> u(static_cast<size_t>(B * H));  // [B, H] normed layer input
  std::vector<float> m(static_cast<size_t>(B * H));  // [B, H] mixer output
  std::vector<float> q, k, v, o;                     // [B, n_q·d], [B, n_kv·d] ×2, [B, n_q·d]
  ops::Embed(tokens, weights.embedding.data(), H, x.data());
  for (int64_t l = 0; l < c.num_layers(); ++l) {
    const NemotronHLayerWeights& lw = weights.layers[static_cast<size_t>(l)];
    HfRmsNorm(x.data(), B, H, lw.norm.data(), c.eps, u.data(), pool);
    switch (lw.kind) {
      case NemotronHLayerKind::kMamba:
        // One position per sequence through the parallel path's own mixer, from its state.
        for (int64_t i = 0; i < B; ++i) {
          model_.mamba_.Run(lw.mamba, u.data() + i * H, 1, m.data() + i * H, pool,
                            &sequences_[static_cast<size_t>(i)].mamba[static_cast<size_t>(l)]);
        }
        break;
      case NemotronHLayerKind::kAttention: {
        const NemotronHAttentionWeights& w = lw.attention;
        q.resize(static_cast<size_t>(B * qd));
        k.resize(static_cast<size_t>(B * kvd));
        v.resize(static_cast<size_t>(B * kvd));
        o.resize(static_cast<size_t>(B * qd));
        ops::Linear(u.data(), B, H, H, w.q_proj.data(), qd, nullptr, q.data(), qd);
        ops::Linear(u.data(), B, H, H, w.k_proj.data(), kvd, nullptr, k.data(), kvd);
        ops::Linear(u.data(), B, H, H, w.v_proj.data(), kvd, nullptr, v.data(), kvd);
        for (int64_t i = 0; i < B; ++i) {
          sequences_[static_cast<size_t>(i)].kv[static_cast<size_t>(l)].Append(k.data() + i * kvd,
                                                                               v.data() + i * kvd);
        }
        pool.ParallelFor(B * nq, 1, [&](int64_t t0, int64_t t1) {
          for (int64_t task = t0; task < t1; ++task) {
            const int64_t i = task / nq, h = task % nq;
            ops::DecodeAttentionHead(q.data() + i * qd + h * d, d,
                                     sequences_[static_cast<size_t>(i)].kv[static_cast<size_t>(l)],
                                     (h / group) * d, o.data() + i * qd + h * d);
          }
        });
        ops::Linear(o.data(), B, qd, qd, w.o_proj.data(), H, nullptr, m.data(), H);
        break;
      }
      case NemotronHLayerKind::kMlp:
        SquaredReluMlp(lw.mlp, u.data(), B, H, c.intermediate_size, m.data(), model_.mlp_scratch_,
                       pool);
        break;
    }
    for (int64_t j = 0; j < B * H; ++j) x[j] += m[j];
  }
  for (Sequence& seq : sequences_) ++seq.position;
  std::vector<float> logits;  // [B, V]
  HfHead(x.data(), B, H, weights.norm_f.data(), c.eps, weights.lm_head.data(), V, tokens, nullptr,
         &logits, pool);
  return logits;
}

}  // namespace evo2::hf
