#include "variants/window_scorer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "variants/allele.h"

namespace evo2::variants {

WindowScorer::WindowScorer(Model& model, bool both_strands, int batch_windows)
    : predictor_(model),
      both_strands_(both_strands),
      batch_windows_(static_cast<size_t>(std::max(1, batch_windows))) {}

void WindowScorer::StartChunk() {
  ++chunk_;
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.last_chunk < chunk_ - 1 ? entries_.erase(it) : std::next(it);
  }
}

const WindowScorer::Entry* WindowScorer::Add(const std::string& sequence, bool* reused) {
  auto [it, inserted] = entries_.try_emplace(sequence);
  it->second.last_chunk = chunk_;
  *reused = !inserted;
  if (inserted) pending_.emplace_back(&it->first, &it->second);
  return &it->second;
}

absl::Status WindowScorer::ScorePending(const std::atomic<bool>* cancelled,
                                        const std::function<void(int64_t, int64_t)>& after_batch) {
  ScoreOptions options;  // no BOS, upper-cased like `evo2 predict`: the documented S(w)
  const size_t strands = both_strands_ ? 2 : 1;
  // Windows per call: batch_windows forwards, both strands of a window in the same call.
  const size_t per_call = std::max<size_t>(1, batch_windows_ / strands);
  for (size_t begin = 0; begin < pending_.size(); begin += per_call) {
    const size_t end = std::min(pending_.size(), begin + per_call);
    std::vector<std::string> reversed;  // [windows] reverse complements, kept alive for inputs
    reversed.reserve(end - begin);
    std::vector<RecordInput> inputs;  // [windows × strands]
    int64_t tokens = 0;
    for (size_t i = begin; i < end; ++i) {
      const std::string& seq = *pending_[i].first;
      inputs.push_back(RecordInput{absl::StrCat("w", i), seq});
      if (both_strands_) reversed.push_back(ReverseComplement(seq));
      tokens += static_cast<int64_t>(seq.size() * strands);
    }
    for (size_t k = 0; k < reversed.size(); ++k) {
      inputs.push_back(RecordInput{absl::StrCat("w", begin + k, "_rc"), reversed[k]});
    }
    ASSIGN_OR_RETURN(auto scores, predictor_.ScoreBatch(inputs, options, cancelled));
    const size_t n = end - begin;
    for (size_t k = 0; k < n; ++k) {
      Entry* e = pending_[begin + k].second;
      e->score = both_strands_ ? (scores[k].log_prob_sum + scores[n + k].log_prob_sum) / 2
                               : scores[k].log_prob_sum;
      e->scored = true;
    }
    if (after_batch) after_batch(static_cast<int64_t>(inputs.size()), tokens);
  }
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace evo2::variants
