// Scoring FASTA records with a Model: tokenisation, batching, log-prob collapse, embeddings.
// Used by `evo2 predict` and by the service worker (which knows the engine only through
// this header, model.h, fasta.h and config.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2 {

enum class LogProbCollapse { kSum, kMean, kPerToken };
enum class EmbeddingPooling { kNone, kMean, kMax, kLast };

struct ScoreOptions {
  bool prepend_bos = false;  // prepend id 0 (not scored)
  bool keep_case = false;    // false: upper-case like bionemo predict; true: bytes as given
  bool want_logits = false;
  std::vector<std::string> embedding_layers;  // "blocks.3.mlp.l3" or "decoder.layers.3"
  EmbeddingPooling pooling = EmbeddingPooling::kMean;
};

struct RecordScore {
  std::string name;
  int64_t num_tokens = 0;          // including a prepended BOS
  double log_prob_sum = 0;         // over scored positions
  double log_prob_mean = 0;        // sum / max(1, scored positions)
  std::vector<float> per_token;    // [num_tokens-1], 0 at masked (BOS) positions
  std::vector<float> logits;       // [num_tokens, 512] when asked
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

class Predictor {
 public:
  explicit Predictor(Model& model) : model_(model) {}

  // Scores one record. `cancelled` (optional) is checked between chunks of work.
  absl::StatusOr<RecordScore> ScoreRecord(const std::string& name, std::string_view sequence,
                                          const ScoreOptions& options,
                                          const std::atomic<bool>* cancelled = nullptr);

 private:
  Model& model_;
};

}  // namespace evo2
