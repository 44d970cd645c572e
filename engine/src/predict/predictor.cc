// Predictor: tokens -> Model::Forward -> masked log-probs, collapse, logits, pooled embeddings.
// Spec: docs/spec/predict-cli.md §2.1, §2.4 (tokens, BOS, loss mask) and §3.1 (log-prob math).
#include "evo2/predictor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"

namespace evo2 {
namespace {

struct PreparedRecord {
  std::string name;
  std::vector<int32_t> tokens;  // [S] (+ pad ids up to the run length)
  std::vector<int64_t> mask;    // [S]
  int64_t num_tokens = 0;       // S
};

TokenizerOptions TokenizerOptionsOf(const ScoreOptions& options) {
  TokenizerOptions t;
  t.keep_case = options.keep_case;
  t.prepend_bos = options.prepend_bos;
  t.eden = options.eden_tokenizer;
  return t;
}

PreparedRecord Prepare(const std::string& name, std::string_view sequence,
                       const ScoreOptions& options) {
  const TokenizerOptions t = TokenizerOptionsOf(options);
  PreparedRecord p;
  p.name = name;
  p.tokens = Tokenize(sequence, t);
  p.mask = LossMask(p.tokens, t, options.mask_phylogenetic_tags);
  p.num_tokens = static_cast<int64_t>(p.tokens.size());
  // Padding only changes what the logits cover; every mixer is causal so real positions are
  // unaffected (§1.4). Log-probs/embeddings alone never need it.
  if (options.want_logits && options.pad_to_tokens > p.num_tokens) {
    p.tokens.resize(static_cast<size_t>(options.pad_to_tokens), PadId(t));
  }
  return p;
}

ForwardOptions MakeForwardOptions(const ScoreOptions& options,
                                  const std::atomic<bool>* cancelled) {
  ForwardOptions f;
  f.cancelled = cancelled;  // the backend stops between blocks
  f.log_probs = true;
  f.logits = options.want_logits;
  f.layers = options.embedding_layers;
  return f;
}

absl::Status CheckCancelled(const std::atomic<bool>* cancelled, const std::string& name) {
  if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
    return absl::CancelledError(absl::StrCat("cancelled before record \"", name, "\" finished"));
  }
  return absl::OkStatus();
}

// hidden: [run_rows, H] row-major; the record's own rows are the first num_tokens.
absl::StatusOr<RecordScore::Embedding> Pool(const std::string& layer, std::vector<float> hidden,
                                            int64_t run_rows, int64_t num_tokens, bool has_bos,
                                            EmbeddingPooling pooling) {
  if (run_rows <= 0 || hidden.empty() || hidden.size() % static_cast<size_t>(run_rows) != 0) {
    return absl::InternalError(absl::StrCat("layer ", layer, " returned ", hidden.size(),
                                            " values for ", run_rows, " positions"));
  }
  const auto h = static_cast<int64_t>(hidden.size()) / run_rows;
  RecordScore::Embedding e;
  e.layer = layer;
  if (pooling == EmbeddingPooling::kNone) {
    hidden.resize(static_cast<size_t>(num_tokens * h));  // [S, H]
    e.shape = {num_tokens, h};
    e.values = std::move(hidden);
    return e;
  }
  // Pooling runs over the record's own bases: a prepended BOS is not part of the sequence.
  const int64_t first = has_bos ? 1 : 0;
  e.shape = {h};  // [H]
  if (pooling == EmbeddingPooling::kLast) {
    const float* row = hidden.data() + (num_tokens - 1) * h;
    e.values.assign(row, row + h);
    return e;
  }
  if (pooling == EmbeddingPooling::kMax) {
    e.values.assign(static_cast<size_t>(h), -std::numeric_limits<float>::infinity());
    for (int64_t t = first; t < num_tokens; ++t) {
      const float* row = hidden.data() + t * h;
      for (int64_t c = 0; c < h; ++c) {
        // NaN propagates (std::max would drop it): a broken activation must not look valid.
        if (row[c] > e.values[c] || std::isnan(row[c])) e.values[c] = row[c];
      }
    }
    return e;
  }
  std::vector<double> acc(static_cast<size_t>(h), 0.0);  // [H] fp64 accumulator
  for (int64_t t = first; t < num_tokens; ++t) {
    const float* row = hidden.data() + t * h;
    for (int64_t c = 0; c < h; ++c) acc[c] += row[c];
  }
  const double n = static_cast<double>(std::max<int64_t>(1, num_tokens - first));
  e.values.resize(static_cast<size_t>(h));
  for (int64_t c = 0; c < h; ++c) e.values[c] = static_cast<float>(acc[c] / n);
  return e;
}

absl::Status CheckLayerPoolings(const ScoreOptions& options) {
  if (!options.layer_poolings.empty() &&
      options.layer_poolings.size() != options.embedding_layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(options.layer_poolings.size(),
                                                   " layer poolings for ",
                                                   options.embedding_layers.size(), " layers"));
  }
  return absl::OkStatus();
}

// Turns one forward result into the record's score (§3.1).
absl::StatusOr<RecordScore> Finish(PreparedRecord p, ForwardResult r, const ScoreOptions& options) {
  const int64_t s = p.num_tokens;
  const auto run = static_cast<int64_t>(p.tokens.size());
  if (static_cast<int64_t>(r.log_probs.size()) < s - 1) {
    return absl::InternalError(absl::StrCat("model returned ", r.log_probs.size(),
                                            " log-probs for record \"", p.name, "\" of ", s,
                                            " tokens"));
  }
  RecordScore score;
  score.name = std::move(p.name);
  score.num_tokens = s;
  score.per_token.resize(static_cast<size_t>(std::max<int64_t>(0, s - 1)));  // [S-1]
  double sum = 0;
  int64_t scored = 0;
  for (int64_t t = 0; t + 1 < s; ++t) {
    const float lp = r.log_probs[t] * static_cast<float>(p.mask[t + 1]);
    score.per_token[t] = lp;
    sum += lp;
    scored += p.mask[t + 1];
  }
  score.log_prob_sum = sum;
  score.log_prob_mean = sum / static_cast<double>(std::max<int64_t>(1, scored));
  if (options.want_logits) {
    if (static_cast<int64_t>(r.logits.size()) != run * kVocabSize) {
      return absl::InternalError(absl::StrCat("model returned ", r.logits.size(),
                                              " logits for ", run, " positions"));
    }
    score.logits = std::move(r.logits);  // [run, 512]
    score.logit_rows = run;
  }
  RETURN_IF_ERROR(CheckLayerPoolings(options));
  for (size_t i = 0; i < options.embedding_layers.size(); ++i) {
    const std::string& layer = options.embedding_layers[i];
    auto it = r.layers.find(layer);
    if (it == r.layers.end()) {
      return absl::InternalError(absl::StrCat("model did not return layer ", layer));
    }
    const EmbeddingPooling pooling =
        options.layer_poolings.empty() ? options.pooling : options.layer_poolings[i];
    ASSIGN_OR_RETURN(RecordScore::Embedding e,
                     Pool(layer, std::move(it->second), run, s, options.prepend_bos, pooling));
    score.embeddings.push_back(std::move(e));
  }
  score.loss_mask = std::move(p.mask);
  return score;
}

}  // namespace

absl::StatusOr<LogProbCollapse> ParseLogProbCollapse(std::string_view name) {
  if (name == "sum") return LogProbCollapse::kSum;
  if (name == "mean") return LogProbCollapse::kMean;
  if (name == "per_token") return LogProbCollapse::kPerToken;
  return absl::InvalidArgumentError(absl::StrCat("unknown log-prob collapse option '",
                                                 std::string(name),
                                                 "' (expected sum, mean or per_token)"));
}

absl::StatusOr<EmbeddingPooling> ParseEmbeddingPooling(std::string_view name) {
  if (name == "none") return EmbeddingPooling::kNone;
  if (name == "mean") return EmbeddingPooling::kMean;
  if (name == "max") return EmbeddingPooling::kMax;
  if (name == "last") return EmbeddingPooling::kLast;
  return absl::InvalidArgumentError(absl::StrCat("unknown embedding pooling '", std::string(name),
                                                 "' (expected none, mean, max or last)"));
}

absl::Status Predictor::Validate(const ScoreOptions& options) const {
  std::set<std::string> seen;
  for (const std::string& layer : options.embedding_layers) {
    if (!seen.insert(layer).second) {
      return absl::InvalidArgumentError(absl::StrCat("embedding layer ", layer, " requested twice"));
    }
    if (auto tap = ParseLayerName(model_.config(), layer); !tap.ok()) return tap.status();
  }
  RETURN_IF_ERROR(CheckLayerPoolings(options));
  if (options.pad_to_tokens < 0) {
    return absl::InvalidArgumentError("pad_to_tokens must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<RecordScore> Predictor::ScoreRecord(const std::string& name,
                                                   std::string_view sequence,
                                                   const ScoreOptions& options,
                                                   const std::atomic<bool>* cancelled) {
  RETURN_IF_ERROR(CheckCancelled(cancelled, name));
  if (sequence.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("record \"", name, "\" has no sequence"));
  }
  PreparedRecord p = Prepare(name, sequence, options);
  auto result = model_.Forward(p.tokens, MakeForwardOptions(options, cancelled));
  if (!result.ok()) {
    return absl::Status(result.status().code(), absl::StrCat("record \"", name, "\": ",
                                                             result.status().message()));
  }
  RETURN_IF_ERROR(CheckCancelled(cancelled, name));
  return Finish(std::move(p), std::move(*result), options);
}

absl::StatusOr<std::vector<RecordScore>> Predictor::ScoreBatch(
    std::span<const RecordInput> records, const ScoreOptions& options,
    const std::atomic<bool>* cancelled) {
  if (records.empty()) return std::vector<RecordScore>{};
  if (records.size() == 1) {
    ASSIGN_OR_RETURN(auto one, ScoreRecord(records[0].name, records[0].sequence, options, cancelled));
    std::vector<RecordScore> out;
    out.push_back(std::move(one));
    return out;
  }
  RETURN_IF_ERROR(CheckCancelled(cancelled, records[0].name));
  std::vector<PreparedRecord> prepared;
  std::vector<std::vector<int32_t>> sequences;
  prepared.reserve(records.size());
  sequences.reserve(records.size());
  for (const RecordInput& r : records) {
    if (r.sequence.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("record \"", r.name, "\" has no sequence"));
    }
    prepared.push_back(Prepare(r.name, r.sequence, options));
    sequences.push_back(prepared.back().tokens);
  }
  auto results = model_.ForwardBatch(sequences, MakeForwardOptions(options, cancelled));
  if (!results.ok()) {
    return absl::Status(results.status().code(),
                        absl::StrCat("batch starting at record \"", records[0].name, "\": ",
                                     results.status().message()));
  }
  if (results->size() != records.size()) {
    return absl::InternalError(absl::StrCat("ForwardBatch returned ", results->size(),
                                            " results for ", records.size(), " records"));
  }
  RETURN_IF_ERROR(CheckCancelled(cancelled, records[0].name));
  std::vector<RecordScore> out;
  out.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ASSIGN_OR_RETURN(auto score, Finish(std::move(prepared[i]), std::move((*results)[i]), options));
    out.push_back(std::move(score));
  }
  return out;
}

}  // namespace evo2
