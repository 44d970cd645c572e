// Scoring FASTA records with a Model: tokenisation, batching, log-prob collapse, embeddings.
// Used by `evo2 predict` and by the service worker (which knows the engine only through
// this header, model.h, fasta.h and config.h).
//
// Math (docs/spec/predict-cli.md §3.1): with tokens T[0..S-1] and loss mask M (1 everywhere, 0 at
// a prepended BOS and, with --mask-phylogenetic-tags, on taxonomy tags),
//   lp[t] = log_softmax(logits[t])[T[t+1]] * M[t+1],  t = 0..S-2
//   sum = Σ lp,  mean = sum / max(1, Σ M[1:]).
// Without a BOS the first base is never scored; a 1-token record has no scored positions
// (sum = mean = 0, per_token empty), exactly like the reference.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2 {

enum class LogProbCollapse { kSum, kMean, kPerToken };
enum class EmbeddingPooling { kNone, kMean, kMax, kLast };

// "sum"|"mean"|"per_token" and "none"|"mean"|"max"|"last"; errors list the valid names.
absl::StatusOr<LogProbCollapse> ParseLogProbCollapse(std::string_view name);
absl::StatusOr<EmbeddingPooling> ParseEmbeddingPooling(std::string_view name);

struct ScoreOptions {
  bool prepend_bos = false;  // prepend id 0 (not scored)
  bool keep_case = false;    // false: upper-case like bionemo predict; true: bytes as given
  bool want_logits = false;
  std::vector<std::string> embedding_layers;  // "blocks.3.mlp.l3" or "decoder.layers.3"
  EmbeddingPooling pooling = EmbeddingPooling::kMean;
  // Pooling per layer, parallel to embedding_layers; empty: `pooling` for every layer. Lets one
  // forward serve layers pooled differently (the service asks for pooling per layer).
  std::vector<EmbeddingPooling> layer_poolings;
  bool eden_tokenizer = false;          // --eden-tokenizer ids (BOS = 2, pad = 0)
  bool mask_phylogenetic_tags = false;  // --mask-phylogenetic-tags
  // When > num_tokens, the model runs on the tokens right-padded with the pad id to this length
  // and `logits` covers all of it: what the reference writes for the shorter records of a
  // micro-batch (docs/spec/predict-cli.md §1.4). Log-probs and embeddings ignore the padding.
  int64_t pad_to_tokens = 0;
};

struct RecordScore {
  std::string name;
  int64_t num_tokens = 0;          // including a prepended BOS
  double log_prob_sum = 0;         // over scored positions
  double log_prob_mean = 0;        // sum / max(1, scored positions)
  std::vector<float> per_token;    // [num_tokens-1], 0 at masked (BOS) positions
  std::vector<int64_t> loss_mask;  // [num_tokens], 0 at a BOS and masked tags
  std::vector<float> logits;       // [logit_rows, 512] when asked
  int64_t logit_rows = 0;          // num_tokens, or pad_to_tokens when that is larger
  struct Embedding {
    std::string layer;             // as requested
    std::vector<int64_t> shape;    // [S, H] (none) or [H] (pooled)
    std::vector<float> values;
  };
  std::vector<Embedding> embeddings;
};

struct ScoreProgress {
  int64_t records_done = 0;
  int64_t tokens_done = 0;
};

struct RecordInput {
  std::string name;
  std::string_view sequence;
};

class Predictor {
 public:
  explicit Predictor(Model& model) : model_(model) {}

  // Scores one record. `cancelled` (optional) is checked before and after the forward and, by
  // the backend, between blocks of the network (ForwardOptions::cancelled): a set flag ends
  // the call with CANCELLED within about one block's compute time.
  absl::StatusOr<RecordScore> ScoreRecord(const std::string& name, std::string_view sequence,
                                          const ScoreOptions& options,
                                          const std::atomic<bool>* cancelled = nullptr);

  // Scores a micro-batch with one Model::ForwardBatch call (the backend may batch them); each
  // result equals ScoreRecord's for that record, up to floating-point rounding.
  absl::StatusOr<std::vector<RecordScore>> ScoreBatch(std::span<const RecordInput> records,
                                                      const ScoreOptions& options,
                                                      const std::atomic<bool>* cancelled = nullptr);

  // Checks options against the model before any work (unknown embedding layer names, ...).
  absl::Status Validate(const ScoreOptions& options) const;

 private:
  Model& model_;
};

}  // namespace evo2
