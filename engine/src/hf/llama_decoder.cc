#include "hf/llama_decoder.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "hf/hf_ops.h"
#include "hf/llama_model.h"
#include "model/decoder_util.h"
#include "ops/linear.h"
#include "ops/rotary.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Decoder>> LlamaModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new LlamaDecoder(*this, options));
}

int64_t LlamaDecoder::vocab_size() const { return model_.config_.vocab_size; }

absl::StatusOr<std::vector<float>> LlamaDecoder::Prefill(
    std::span<const std::vector<int32_t>> prompts) {
  const LlamaConfig& c = model_.config_;
  const int64_t V = c.vocab_size, nq = c.num_heads, nkv = c.num_kv_heads, d = c.head_dim;
  const int64_t ld = (nq + 2 * nkv) * d;
  sequences_.clear();
  std::vector<Sequence> seqs;
  std::vector<float> logits;  // [B, V]
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Prefill: prompt ", i, " is empty"));
    }
    Sequence seq;
    seq.kv.assign(static_cast<size_t>(c.num_layers), ops::KvCache(nkv * d));
    // Forward rotates q and k in place; k at columns n_q·d…, v at (n_q + n_kv)·d… of each row.
    model_.set_attention_observer([&](int64_t l, const float* qkv, int64_t S) {
      seq.kv[static_cast<size_t>(l)].AppendRows(qkv + nq * d, ld, qkv + (nq + nkv) * d, ld, S);
    });
    absl::Cleanup unhook = [&] { model_.set_attention_observer(nullptr); };
    if (auto st = ForwardLastLogits(model_, prompts[i], options_.cancelled, V, logits); !st.ok()) {
      return PromptError(i, st);
    }
    seq.position = static_cast<int64_t>(prompts[i].size());
    seqs.push_back(std::move(seq));
  }
  sequences_ = std::move(seqs);
  return logits;
}

absl::Status LlamaDecoder::Select(std::span<const int64_t> rows) {
  return SelectRows(sequences_, rows);
}

absl::StatusOr<std::vector<float>> LlamaDecoder::Step(std::span<const int32_t> tokens) {
  const LlamaConfig& c = model_.config_;
  const int64_t B = batch_size(), H = c.hidden_size, V = c.vocab_size;
  const int64_t nq = c.num_heads, nkv = c.num_kv_heads, d = c.head_dim, half = d / 2;
  const int64_t ld = (nq + 2 * nkv) * d, qd = nq * d, group = nq / nkv;
  const float eps = static_cast<float>(c.rms_norm_eps);
  RETURN_IF_ERROR(CheckStepTokens(tokens, B, V, options_.cancelled));
  ops::ThreadPool& pool = model_.pool_;
  const LlamaWeights& weights = model_.weights_;
  std::vector<float> x(static_cast<size_t>(B * H));     // [B, H] residual stream
  std::vector<float> u(static_cast<size_t>(B * H));     // [B, H] normed
  std::vector<float> qkv(static_cast<size_t>(B * ld));  // [B, (n_q + 2 n_kv)·d]
  std::vector<float> o(static_cast<size_t>(B * qd));    // [B, n_q·d]
  for (int64_t i = 0; i < B; ++i) {
    std::copy_n(weights.embedding.data() + tokens[i] * H, H, x.data() + i * H);
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LlamaLayerWeights& w = weights.layers[static_cast<size_t>(l)];
    HfRmsNorm(x.data(), B, H, w.input_norm.data(), eps, u.data(), pool);
    ops::Linear(u.data(), B, H, H, w.wqkv.data(), ld, nullptr, qkv.data(), ld);
    // RoPE on q and k at each sequence's own position, then k, v into its cache.
    std::vector<float> cos(static_cast<size_t>(half)), sin(static_cast<size_t>(half));
    for (int64_t i = 0; i < B; ++i) {
      Sequence& seq = sequences_[static_cast<size_t>(i)];
      float* row = qkv.data() + i * ld;
      ops::RotaryRow(model_.inv_freq_.data(), half, seq.position, /*position_scale=*/1.0,
                     cos.data(), sin.data());
      for (int64_t h = 0; h < nq + nkv; ++h) {
        ops::ApplyRotaryRow(row + h * d, cos.data(), sin.data(), half);
      }
      seq.kv[static_cast<size_t>(l)].Append(row + nq * d, row + (nq + nkv) * d);
    }
    pool.ParallelFor(B * nq, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t task = t0; task < t1; ++task) {
        const int64_t i = task / nq, h = task % nq;
        ops::DecodeAttentionHead(qkv.data() + i * ld + h * d, d,
                                 sequences_[static_cast<size_t>(i)].kv[static_cast<size_t>(l)],
                                 (h / group) * d, o.data() + i * qd + h * d);
      }
    });
    ops::Linear(o.data(), B, qd, qd, w.wo.data(), H, nullptr, x.data(), H, /*accumulate=*/true);
    model_.MlpBlock(w, B, x.data());
  }
  for (Sequence& seq : sequences_) ++seq.position;
  std::vector<float> logits;  // [B, V]
  HfHead(x.data(), B, H, weights.final_norm.data(), eps, weights.head().data(), V, tokens, nullptr,
         &logits, pool);
  return logits;
}

}  // namespace evo2::hf
