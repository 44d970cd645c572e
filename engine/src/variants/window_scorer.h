// Scores windows with the model, each distinct sequence once, in batches of Model::ForwardBatch
// (docs/variant-scoring.md §3). S(w) is Predictor's log_prob_sum without a BOS: the sum of
// log p(w[t] | w[0..t-1]) over t = 1..L-1 (bases 2..L; the first base is context only). With
// both strands, S(w) = (S_fwd(w) + S_fwd(revcomp(w))) / 2.
//
// Sharing: a window added twice (all ALTs of a record share their ref window; split
// multi-allelic records at one position share it too) is scored once. Entries live for the
// current and the previous chunk of records, so neighbours across a chunk boundary share too.
//
// Shared prefixes (`shared_prefix`, the default): pending windows of one strand that begin with
// the same bases are scored from one forward of that prefix (shared_prefix.h); the rest, and all
// windows on a backend whose decoder has no Extend, take a full forward each.
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

  WindowScorer(Model& model, bool both_strands, int batch_windows, bool shared_prefix);

  // Starts a new chunk of records; entries not used in the previous or this chunk are dropped.
  void StartChunk();
  // The entry for `sequence` (stable until the chunk after next starts); `reused` tells whether
  // it was already known.
  const Entry* Add(const std::string& sequence, bool* reused);
  // Scores every entry added and not yet scored. `after_batch(forwards, tokens)` is called after
  // each forward batch and each shared-prefix group (tokens: those run through the model).
  absl::Status ScorePending(const std::atomic<bool>* cancelled,
                            const std::function<void(int64_t, int64_t)>& after_batch);
  // Window strands scored from a shared prefix so far.
  int64_t windows_from_shared_prefix() const { return windows_from_shared_prefix_; }

 private:
  // One window strand: pending_ index and strand (0 forward, 1 reverse complement).
  struct Strand {
    size_t window = 0;
    int strand = 0;
  };
  // Shared-prefix groups of each strand's pending windows; the windows left out (and all of
  // them when the backend cannot Extend) go to `full`. record(strand, sum) stores a result.
  absl::Status ScoreSharedPrefixes(const std::vector<std::string>& reversed,
                                   const std::atomic<bool>* cancelled,
                                   const std::function<void(int64_t, int64_t)>& after_batch,
                                   const std::function<void(const Strand&, double)>& record,
                                   std::vector<Strand>& full);

  Model& model_;
  Predictor predictor_;
  bool both_strands_;
  bool shared_prefix_;
  int64_t windows_from_shared_prefix_ = 0;
  size_t batch_windows_;
  int64_t chunk_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::pair<const std::string*, Entry*>> pending_;
};

}  // namespace evo2::variants
