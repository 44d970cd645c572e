// Scores windows with the model, each distinct sequence once, in batches of Model::ForwardBatch
// (docs/variant-scoring.md §3). S(w) is Predictor's log_prob_sum without a BOS: the sum of
// log p(w[t] | w[0..t-1]) over t = 1..L-1 (bases 2..L; the first base is context only). With
// both strands, S(w) = (S_fwd(w) + S_fwd(revcomp(w))) / 2.
//
// Sharing: a window added twice (all ALTs of a record share their ref window; split
// multi-allelic records at one position share it too) is scored once. Entries live for the
// current and the previous chunk of records, so neighbours across a chunk boundary share too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "evo2/model.h"
#include "evo2/predictor.h"

namespace evo2::variants {

class WindowScorer {
 public:
  struct Entry {
    double score = 0;
    bool scored = false;
    int64_t last_chunk = 0;
  };

  WindowScorer(Model& model, bool both_strands, int batch_windows);

  // Starts a new chunk of records; entries not used in the previous or this chunk are dropped.
  void StartChunk();
  // The entry for `sequence` (stable until the chunk after next starts); `reused` tells whether
  // it was already known.
  const Entry* Add(const std::string& sequence, bool* reused);
  // Scores every entry added and not yet scored. `after_batch(forwards, tokens)` is called after
  // each forward batch.
  absl::Status ScorePending(const std::atomic<bool>* cancelled,
                            const std::function<void(int64_t, int64_t)>& after_batch);

 private:
  Predictor predictor_;
  bool both_strands_;
  size_t batch_windows_;
  int64_t chunk_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::pair<const std::string*, Entry*>> pending_;
};

}  // namespace evo2::variants
