// Shared-prefix window scoring (docs/variant-scoring.md §5). Windows that begin with the same
// bases — the ref and alt windows of a variant share their left flank; on the reverse strand
// they share the reverse complement of their right flank when it is the same — are scored with
// one forward over the common prefix and, per window, a continuation from the prefix's cached
// state (evo2/decoder.h: Prefill, Select, ExtendLogProbs) instead of a full forward each. Every
// window's S(w) is the same sum, in the same order, of the same next-token log-probs as a full
// forward's (window_scorer.h), each equal to the full forward's up to fp32 GEMM rounding (~5e-6):
// only the prefix's work is done once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/decoder.h"

namespace evo2::variants {

// Below this many shared tokens a group is not worth its extra calls (a one-token prefill, the
// suffixes' 127-row hcm halos): such windows take a full forward each.
inline constexpr int64_t kMinSharedPrefixTokens = 16;

// Windows scored from one prefix.
struct PrefixGroup {
  std::vector<size_t> members;  // indices into the sequences given to GroupBySharedPrefix
  int64_t prefix_tokens = 0;    // every member starts with these; shorter than every member
};

// Sorts the windows and cuts runs of ≥ 2 whose common prefix has at least `min_prefix_tokens`
// bases (a sorted run's common prefix is the minimum over neighbours); the indices of windows in
// no group go to `alone`.
std::vector<PrefixGroup> GroupBySharedPrefix(std::span<const std::string* const> windows,
                                             int64_t min_prefix_tokens, std::vector<size_t>& alone);

// S(w) of each member of `group`, in member order: Prefill of the first token, ExtendLogProbs
// over tokens 1 … P−2 of the prefix (the shared log-probs), Select a copy per member,
// ExtendLogProbs of each copy from the prefix's last token to its window's second-to-last (the
// log-prob of every next token; on a GPU gathered on the device). Tokens as `evo2 predict` makes
// them (upper-cased, no BOS). INVALID_ARGUMENT for a prefix under 2 tokens; any decoder error is
// returned as is (UNIMPLEMENTED from a backend without Extend).
absl::StatusOr<std::vector<double>> ScorePrefixGroup(Decoder& decoder,
                                                     std::span<const std::string* const> windows,
                                                     const PrefixGroup& group);

}  // namespace evo2::variants
