#include "predict/prediction_tensors.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/tokenizer.h"

namespace evo2::predict {
namespace {

// Keeps a HostArray's vector alive as Tensor storage.
template <typename T>
class VectorOf final : public Storage {
 public:
  explicit VectorOf(std::vector<T> v) : v_(std::move(v)) {}
  std::span<const std::byte> bytes() const override {
    return std::as_bytes(std::span<const T>(v_));
  }

 private:
  std::vector<T> v_;
};

HostArray F32(std::vector<int64_t> shape) {
  HostArray a;
  a.dtype = DType::kFloat32;
  a.shape = std::move(shape);
  a.f32.assign(static_cast<size_t>(a.numel()), 0.0f);
  return a;
}

HostArray I64(std::vector<int64_t> shape) {
  HostArray a;
  a.dtype = DType::kInt64;
  a.shape = std::move(shape);
  a.i64.assign(static_cast<size_t>(a.numel()), 0);
  return a;
}

}  // namespace

int64_t HostArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<NamedArrays> BuildBatchArrays(const std::vector<RecordScore>& scores,
                                             std::span<const int64_t> seq_idx,
                                             int64_t batch_tokens,
                                             const PredictionWriterOptions& options) {
  const auto b = static_cast<int64_t>(scores.size());
  if (seq_idx.size() != scores.size()) {
    return absl::InternalError("seq_idx and scores differ in length");
  }
  const int64_t s = batch_tokens;
  for (const RecordScore& r : scores) {
    if (r.num_tokens > s) {
      return absl::InternalError(absl::StrCat("record \"", r.name, "\" has ", r.num_tokens,
                                              " tokens, more than the batch length ", s));
    }
  }
  NamedArrays out;
  HostArray idx = I64({b});
  std::copy(seq_idx.begin(), seq_idx.end(), idx.i64.begin());
  bool have_pad_mask = false;
  auto pad_mask = [&]() {
    HostArray m = I64({b, s});  // [B, S] = loss mask, 0 on padding
    for (int64_t i = 0; i < b; ++i) {
      const auto& lm = scores[i].loss_mask;
      std::copy(lm.begin(), lm.end(), m.i64.begin() + i * s);
    }
    return m;
  };

  if (!options.output_log_prob_seqs) {
    HostArray logits = F32({b, s, kVocabSize});  // [B, S, 512]
    for (int64_t i = 0; i < b; ++i) {
      const RecordScore& r = scores[i];
      const int64_t rows = std::min<int64_t>(r.logit_rows, s);
      if (static_cast<int64_t>(r.logits.size()) < rows * kVocabSize || rows < r.num_tokens) {
        return absl::InternalError(absl::StrCat("record \"", r.name, "\" has no logits"));
      }
      std::memcpy(logits.f32.data() + i * s * kVocabSize, r.logits.data(),
                  static_cast<size_t>(rows * kVocabSize) * sizeof(float));
    }
    out.emplace_back("token_logits", std::move(logits));
    out.emplace_back("pad_mask", pad_mask());
    have_pad_mask = true;
    out.emplace_back("seq_idx", std::move(idx));
  } else if (options.collapse == LogProbCollapse::kPerToken) {
    const int64_t cols = std::max<int64_t>(0, s - 1);
    HostArray lp = F32({b, cols});    // [B, S-1], 0 where masked or padded
    HostArray mask = I64({b, cols});  // [B, S-1] = loss_mask[:, 1:]
    for (int64_t i = 0; i < b; ++i) {
      const RecordScore& r = scores[i];
      std::copy(r.per_token.begin(), r.per_token.end(), lp.f32.begin() + i * cols);
      for (int64_t t = 1; t < r.num_tokens; ++t) mask.i64[i * cols + t - 1] = r.loss_mask[t];
    }
    out.emplace_back("log_probs_seqs", std::move(lp));
    out.emplace_back("seq_idx", std::move(idx));
    out.emplace_back("loss_mask", std::move(mask));
  } else {
    HostArray lp = F32({b});  // [B]; fp32 like the reference's torch reduction
    for (int64_t i = 0; i < b; ++i) {
      lp.f32[i] = static_cast<float>(options.collapse == LogProbCollapse::kSum
                                         ? scores[i].log_prob_sum
                                         : scores[i].log_prob_mean);
    }
    out.emplace_back("log_probs_seqs", std::move(lp));
    out.emplace_back("seq_idx", std::move(idx));
  }

  for (size_t k = 0; k < options.embedding_layers.size(); ++k) {
    const std::string& layer = options.embedding_layers[k];
    int64_t h = -1;
    for (const RecordScore& r : scores) {
      if (k >= r.embeddings.size() || r.embeddings[k].layer != layer) {
        return absl::InternalError(absl::StrCat("record \"", r.name, "\" lacks layer ", layer));
      }
      const int64_t rh = r.embeddings[k].shape.back();
      if (h >= 0 && rh != h) return absl::InternalError("embedding widths differ in a batch");
      h = rh;
    }
    const bool pooled = options.pooling != EmbeddingPooling::kNone;
    HostArray e = pooled ? F32({b, h}) : F32({b, s, h});  // [B, H] or [B, S, H]
    const int64_t stride = pooled ? h : s * h;
    for (int64_t i = 0; i < b; ++i) {
      const auto& v = scores[i].embeddings[k].values;
      std::copy(v.begin(), v.end(), e.f32.begin() + i * stride);
    }
    out.emplace_back(absl::StrCat("hidden_embeddings.", layer), std::move(e));
    if (!pooled && !have_pad_mask) {
      out.emplace_back("pad_mask", pad_mask());
      have_pad_mask = true;
    }
  }
  return out;
}

absl::StatusOr<NamedArrays> CollateBatches(std::vector<NamedArrays> batches) {
  if (batches.empty()) return NamedArrays{};
  NamedArrays out;
  const NamedArrays& first = batches.front();
  for (size_t k = 0; k < first.size(); ++k) {
    const std::string& key = first[k].first;
    const HostArray& proto = first[k].second;
    int64_t rows = 0;
    int64_t dim1 = 0;
    for (const NamedArrays& b : batches) {
      if (b.size() != first.size() || b[k].first != key ||
          b[k].second.shape.size() != proto.shape.size() || b[k].second.dtype != proto.dtype) {
        return absl::InternalError(absl::StrCat("batches disagree on key ", key));
      }
      rows += b[k].second.shape[0];
      if (proto.shape.size() >= 2) dim1 = std::max(dim1, b[k].second.shape[1]);
    }
    std::vector<int64_t> shape = proto.shape;
    shape[0] = rows;
    if (shape.size() >= 2) shape[1] = dim1;
    int64_t inner = 1;  // elements per dim-1 step
    for (size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
    HostArray a = proto.dtype == DType::kFloat32 ? F32(shape) : I64(shape);
    const int64_t out_row = shape.size() >= 2 ? dim1 * inner : 1;
    int64_t r0 = 0;
    for (NamedArrays& b : batches) {
      HostArray& src = b[k].second;
      const int64_t n = src.shape[0];
      const int64_t src_row = src.shape.size() >= 2 ? src.shape[1] * inner : 1;
      for (int64_t i = 0; i < n; ++i) {
        if (a.dtype == DType::kFloat32) {
          std::copy_n(src.f32.begin() + i * src_row, src_row, a.f32.begin() + (r0 + i) * out_row);
        } else {
          std::copy_n(src.i64.begin() + i * src_row, src_row, a.i64.begin() + (r0 + i) * out_row);
        }
      }
      r0 += n;
      src = HostArray{};  // release as we go: the collated copy can be large
    }
    out.emplace_back(key, std::move(a));
  }
  return out;
}

NamedTensors ToNamedTensors(NamedArrays arrays) {
  NamedTensors out;
  out.reserve(arrays.size());
  for (auto& [key, a] : arrays) {
    std::shared_ptr<const Storage> storage;
    if (a.dtype == DType::kFloat32) {
      storage = std::make_shared<VectorOf<float>>(std::move(a.f32));
    } else {
      storage = std::make_shared<VectorOf<int64_t>>(std::move(a.i64));
    }
    // The byte range matches the shape by construction.
    out.emplace_back(key, *Tensor::View(std::move(storage), 0, a.dtype, a.shape));
  }
  return out;
}

}  // namespace evo2::predict
