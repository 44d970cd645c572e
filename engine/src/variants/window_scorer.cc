#include "variants/window_scorer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "variants/allele.h"
#include "variants/shared_prefix.h"

namespace evo2::variants {

WindowScorer::WindowScorer(Model& model, bool both_strands, int batch_windows, bool shared_prefix)
    : model_(model),
      predictor_(model),
      both_strands_(both_strands),
      shared_prefix_(shared_prefix),
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

absl::Status WindowScorer::ScoreSharedPrefixes(
    const std::vector<std::string>& reversed, const std::atomic<bool>* cancelled,
    const std::function<void(int64_t, int64_t)>& after_batch,
    const std::function<void(const Strand&, double)>& record, std::vector<Strand>& full) {
  const int strands = both_strands_ ? 2 : 1;
  DecoderOptions decoder_options;
  decoder_options.cancelled = cancelled;
  auto decoder = model_.NewDecoder(decoder_options);
  for (int s = 0; s < strands; ++s) {
    std::vector<const std::string*> windows;  // [pending] this strand's sequences
    for (size_t i = 0; i < pending_.size(); ++i) {
      windows.push_back(s == 0 ? pending_[i].first : &reversed[i]);
    }
    std::vector<size_t> alone;
    const auto groups = GroupBySharedPrefix(windows, kMinSharedPrefixTokens, alone);
    for (size_t i : alone) full.push_back(Strand{i, s});
    for (const PrefixGroup& g : groups) {
      if (shared_prefix_ && decoder.ok()) {
        auto scores = ScorePrefixGroup(**decoder, windows, g);
        if (scores.ok()) {
          int64_t tokens = g.prefix_tokens;
          for (size_t k = 0; k < g.members.size(); ++k) {
            record(Strand{g.members[k], s}, (*scores)[k]);
            tokens += static_cast<int64_t>(windows[g.members[k]]->size()) - g.prefix_tokens;
          }
          windows_from_shared_prefix_ += static_cast<int64_t>(g.members.size());
          if (after_batch) after_batch(static_cast<int64_t>(g.members.size()), tokens);
          continue;
        }
        if (scores.status().code() != absl::StatusCode::kUnimplemented) return scores.status();
      }
      // No Extend on this backend (or no decoder): full forwards from here on.
      shared_prefix_ = false;
      for (size_t i : g.members) full.push_back(Strand{i, s});
    }
  }
  return absl::OkStatus();
}

absl::Status WindowScorer::ScorePending(const std::atomic<bool>* cancelled,
                                        const std::function<void(int64_t, int64_t)>& after_batch) {
  ScoreOptions options;  // no BOS, upper-cased like `evo2 predict`: the documented S(w)
  const size_t n = pending_.size();
  const int strands = both_strands_ ? 2 : 1;
  std::vector<std::string> reversed;  // [pending] reverse complements (both strands only)
  if (both_strands_) {
    for (const auto& [seq, entry] : pending_) reversed.push_back(ReverseComplement(*seq));
  }
  // sums [strands, pending]; an entry is scored once all its strands are.
  std::vector<double> sums(n * static_cast<size_t>(strands));
  std::vector<int> strands_done(n, 0);
  auto record = [&](const Strand& w, double sum) {
    sums[static_cast<size_t>(w.strand) * n + w.window] = sum;
    if (++strands_done[w.window] < strands) return;
    Entry* e = pending_[w.window].second;
    e->score = both_strands_ ? (sums[w.window] + sums[n + w.window]) / 2 : sums[w.window];
    e->scored = true;
  };
  std::vector<Strand> full;  // window strands that take a full forward, window by window
  if (shared_prefix_) {
    RETURN_IF_ERROR(ScoreSharedPrefixes(reversed, cancelled, after_batch, record, full));
    std::sort(full.begin(), full.end(), [](const Strand& x, const Strand& y) {
      return x.window != y.window ? x.window < y.window : x.strand < y.strand;
    });
  } else {
    for (size_t i = 0; i < n; ++i) {
      for (int s = 0; s < strands; ++s) full.push_back(Strand{i, s});
    }
  }
  // Full forwards, batch_windows per call (both strands of a window stay in one call).
  for (size_t begin = 0; begin < full.size();) {
    size_t end = std::min(full.size(), begin + batch_windows_);
    while (end < full.size() && full[end].window == full[end - 1].window) ++end;
    std::vector<RecordInput> inputs;
    int64_t tokens = 0;
    for (size_t k = begin; k < end; ++k) {
      const Strand& w = full[k];
      const std::string& seq = w.strand == 0 ? *pending_[w.window].first : reversed[w.window];
      inputs.push_back(RecordInput{absl::StrCat("w", w.window, w.strand == 0 ? "" : "_rc"), seq});
      tokens += static_cast<int64_t>(seq.size());
    }
    ASSIGN_OR_RETURN(auto scores, predictor_.ScoreBatch(inputs, options, cancelled));
    for (size_t k = begin; k < end; ++k) record(full[k], scores[k - begin].log_prob_sum);
    if (after_batch) after_batch(static_cast<int64_t>(inputs.size()), tokens);
    begin = end;
  }
  pending_.clear();
  return absl::OkStatus();
}

}  // namespace evo2::variants
