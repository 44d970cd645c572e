#include "record_scorer.h"

#include <chrono>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "evo2/tensor.h"
#include "evo2/tokenizer.h"

namespace evo2::svc {
namespace {

evo2::EmbeddingPooling ToEngine(evo2::v1::Pooling p) {
  switch (p) {
    case evo2::v1::POOLING_NONE:
      return evo2::EmbeddingPooling::kNone;
    case evo2::v1::POOLING_MAX:
      return evo2::EmbeddingPooling::kMax;
    case evo2::v1::POOLING_LAST:
      return evo2::EmbeddingPooling::kLast;
    default:
      return evo2::EmbeddingPooling::kMean;
  }
}

void AddTensor(evo2::v1::RecordResult* out, const std::string& name,
               const std::vector<int64_t>& shape, const std::vector<float>& values,
               evo2::v1::DType dtype) {
  auto* t = out->add_tensors();
  t->set_name(name);
  // UNSPECIFIED means float32 (inputs.proto): label the bytes with what they are.
  t->set_dtype(dtype == evo2::v1::DTYPE_BFLOAT16 ? evo2::v1::DTYPE_BFLOAT16
                                                 : evo2::v1::DTYPE_FLOAT32);
  for (int64_t d : shape) t->add_shape(d);
  t->set_data(EncodeTensorData(values, dtype));
}

}  // namespace

std::string EncodeTensorData(const std::vector<float>& values, evo2::v1::DType dtype) {
  std::string out;
  if (dtype == evo2::v1::DTYPE_BFLOAT16) {
    out.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t b = evo2::FloatToBFloat16(values[i]);
      out[2 * i] = static_cast<char>(b & 0xff);
      out[2 * i + 1] = static_cast<char>(b >> 8);
    }
    return out;
  }
  // x86-64 and aarch64 are little-endian: the float bytes are the wire format.
  out.resize(values.size() * 4);
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

absl::StatusOr<evo2::v1::RecordResult> RecordScorer::Score(const evo2::v1::JobInput& job,
                                                           int64_t index,
                                                           const std::atomic<bool>* cancelled) {
  const auto& rec = job.records(static_cast<int>(index));
  const auto& outs = job.outputs();
  bool want_sum = false, want_mean = false, want_per_token = false;
  for (int r : outs.log_probs()) {
    want_sum |= r == evo2::v1::LOG_PROB_REDUCTION_SUM;
    want_mean |= r == evo2::v1::LOG_PROB_REDUCTION_MEAN;
    want_per_token |= r == evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN;
  }
  // One forward computes every requested layer; each is pooled as asked. Layers are grouped by
  // pooling (none, mean, max, last) so results keep the order they have always had.
  std::map<evo2::v1::Pooling, std::vector<std::string>> by_pooling;
  for (const auto& e : outs.embeddings()) {
    evo2::v1::Pooling p = e.pooling() == evo2::v1::POOLING_UNSPECIFIED ? evo2::v1::POOLING_MEAN
                                                                       : e.pooling();
    by_pooling[p].push_back(e.layer());
  }
  evo2::ScoreOptions opts;
  opts.prepend_bos = job.options().prepend_bos();
  opts.keep_case = job.options().keep_case();
  opts.want_logits = outs.logits();
  for (const auto& [pooling, layers] : by_pooling) {
    for (const std::string& layer : layers) {
      opts.embedding_layers.push_back(layer);
      opts.layer_poolings.push_back(ToEngine(pooling));
    }
  }

  evo2::v1::RecordResult out;
  out.set_record_index(index);
  out.set_record_name(rec.name());
  const auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(evo2::RecordScore score,
                   predictor_.ScoreRecord(rec.name(), rec.sequence(), opts, cancelled));
  out.set_num_tokens(score.num_tokens);
  if (want_sum) out.set_log_prob_sum(score.log_prob_sum);
  if (want_mean) out.set_log_prob_mean(score.log_prob_mean);
  if (want_per_token) {
    AddTensor(&out, "log_probs", {static_cast<int64_t>(score.per_token.size())}, score.per_token,
              outs.tensor_dtype());
  }
  if (outs.logits()) {
    AddTensor(
        &out, "logits",
        {static_cast<int64_t>(score.logits.size() / evo2::kVocabSize), int64_t{evo2::kVocabSize}},
        score.logits, outs.tensor_dtype());
  }
  for (const auto& e : score.embeddings) {
    AddTensor(&out, absl::StrCat("embedding/", e.layer), e.shape, e.values, outs.tensor_dtype());
  }
  out.set_forward_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

}  // namespace evo2::svc
