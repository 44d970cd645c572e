// Pieces every backend's Decoder (evo2/decoder.h) shares: the prefill's forward, the checks a Step
// makes, the error of a failed prefill, and Select over any per-sequence state.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/model.h"

namespace evo2 {

// FAILED_PRECONDITION before any Prefill, INVALID_ARGUMENT for a wrong count or an id outside
// [0, V), CANCELLED once `cancelled` is set.
absl::Status CheckStepTokens(std::span<const int32_t> tokens, int64_t batch, int64_t V,
                             const std::atomic<bool>* cancelled);

// One prompt's parallel forward, run for the state the backend's observers collect during it;
// appends the logits of its last position ([V]) to `logits`.
absl::Status ForwardLastLogits(Model& model, std::span<const int32_t> prompt,
                               const std::atomic<bool>* cancelled, int64_t V, std::vector<float>& logits);

// Decoder::ExtendLogProbs's targets against its suffixes: one per suffix token, each in
// [0, V) or −1; INVALID_ARGUMENT naming the suffix and position otherwise.
absl::Status CheckExtendTargets(std::span<const std::vector<int32_t>> suffixes,
                                std::span<const std::vector<int32_t>> targets, int64_t V);

// A prefill error of prompt `i`, keeping the code.
absl::Status PromptError(size_t i, const absl::Status& status);

// sequences ← [sequences[rows[0]], sequences[rows[1]], …]; OUT_OF_RANGE for a bad row.
template <typename Sequence>
absl::Status SelectRows(std::vector<Sequence>& sequences, std::span<const int64_t> rows) {
  std::vector<Sequence> next;
  next.reserve(rows.size());
  for (int64_t r : rows) {
    if (r < 0 || r >= static_cast<int64_t>(sequences.size())) {
      return absl::OutOfRangeError(
          absl::StrCat("Select: row ", r, " is outside the batch [0, ", sequences.size(), ")"));
    }
    next.push_back(sequences[static_cast<size_t>(r)]);
  }
  sequences = std::move(next);
  return absl::OkStatus();
}

}  // namespace evo2
