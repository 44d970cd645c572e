// Decoder::ExtendLogProbs's default (evo2/decoder.h): Extend's logits reduced on the host, one
// log-softmax per row (TokenLogProb, evo2/generate.h), and the check of its targets that every
// backend shares.
#include <cstdint>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/decoder.h"
#include "evo2/generate.h"
#include "evo2/status_macros.h"
#include "model/decoder_util.h"

namespace evo2 {

absl::Status CheckExtendTargets(std::span<const std::vector<int32_t>> suffixes,
                                std::span<const std::vector<int32_t>> targets, int64_t V) {
  if (targets.size() != suffixes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ExtendLogProbs: ", targets.size(), " target lists for ", suffixes.size(), " suffixes"));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].size() != suffixes[i].size()) {
      return absl::InvalidArgumentError(absl::StrCat("ExtendLogProbs: suffix ", i, " has ",
                                                     suffixes[i].size(), " tokens but ",
                                                     targets[i].size(), " targets"));
    }
    for (size_t j = 0; j < targets[i].size(); ++j) {
      const int32_t t = targets[i][j];
      if (t < -1 || t >= V) {
        return absl::InvalidArgumentError(absl::StrCat("ExtendLogProbs: suffix ", i, " target ", j,
                                                       " is ", t, ", outside [0, ", V,
                                                       ") and not -1"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Decoder::ExtendLogProbs(
    std::span<const std::vector<int32_t>> suffixes, std::span<const std::vector<int32_t>> targets) {
  const int64_t V = vocab_size();
  RETURN_IF_ERROR(CheckExtendTargets(suffixes, targets, V));
  ASSIGN_OR_RETURN(const std::vector<float> logits, Extend(suffixes));  // [Σ L_i, V]
  std::vector<float> lp;                                                // [Σ L_i]
  size_t row = 0;
  for (const auto& t : targets) {
    for (int32_t token : t) {
      const std::span<const float> r(logits.data() + row * static_cast<size_t>(V),
                                     static_cast<size_t>(V));
      lp.push_back(token < 0 ? 0.f : TokenLogProb(r, token));
      ++row;
    }
  }
  return lp;
}

}  // namespace evo2
