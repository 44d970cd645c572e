#include "variants/shared_prefix.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "evo2/generate.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"

namespace evo2::variants {

namespace {

int64_t CommonPrefix(const std::string& a, const std::string& b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return ia - a.begin();
}

}  // namespace

std::vector<PrefixGroup> GroupBySharedPrefix(std::span<const std::string* const> windows,
                                             int64_t min_prefix_tokens,
                                             std::vector<size_t>& alone) {
  std::vector<size_t> order(windows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return *windows[x] < *windows[y]; });
  std::vector<PrefixGroup> groups;
  for (size_t i = 0; i < order.size();) {
    const std::string& first = *windows[order[i]];
    // Each member keeps at least one token of its own to extend with.
    int64_t prefix = static_cast<int64_t>(first.size()) - 1;
    size_t j = i + 1;
    for (; j < order.size(); ++j) {
      const std::string& next = *windows[order[j]];
      const int64_t p = std::min({prefix, CommonPrefix(*windows[order[j - 1]], next),
                                  static_cast<int64_t>(next.size()) - 1});
      if (p < min_prefix_tokens) break;
      prefix = p;
    }
    if (j - i >= 2) {
      groups.push_back(PrefixGroup{{order.begin() + static_cast<std::ptrdiff_t>(i),
                                    order.begin() + static_cast<std::ptrdiff_t>(j)},
                                   prefix});
    } else {
      alone.push_back(order[i]);
    }
    i = j;
  }
  return groups;
}

absl::StatusOr<std::vector<double>> ScorePrefixGroup(Decoder& decoder,
                                                     std::span<const std::string* const> windows,
                                                     const PrefixGroup& group) {
  const TokenizerOptions tok;  // upper-cased, no BOS: as Predictor scores a window
  const int64_t P = group.prefix_tokens;
  if (P < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared prefix of ", P, " tokens: at least 2 are needed"));
  }
  const std::vector<int32_t> head = Tokenize(*windows[group.members[0]], tok);
  // lp(t) = log p(w[t] | w[..t−1]); the prefix's t = 1 … P − 1 are shared by every member.
  // Prefill of w[0]: its logits give lp(1).
  const std::vector<std::vector<int32_t>> first = {{head[0]}};
  ASSIGN_OR_RETURN(const std::vector<float> first_logits, decoder.Prefill(first));
  double prefix_sum = TokenLogProb(first_logits, head[1]);
  // Extend over w[1 … P−2] with targets w[2 … P−1]: lp(2 … P−1). The state then holds P − 1
  // tokens: each member feeds w[P−1] itself, whose row gives its own lp(P).
  if (P > 2) {
    const std::vector<std::vector<int32_t>> rest = {{head.begin() + 1, head.begin() + P - 1}};
    const std::vector<std::vector<int32_t>> rest_targets = {{head.begin() + 2, head.begin() + P}};
    ASSIGN_OR_RETURN(const std::vector<float> lp, decoder.ExtendLogProbs(rest, rest_targets));
    for (float v : lp) prefix_sum += v;
  }

  const size_t n = group.members.size();
  RETURN_IF_ERROR(decoder.Select(std::vector<int64_t>(n, 0)));
  // Member i: suffix w[P−1 … len−2], targets w[P … len−1] (the last token predicts nothing).
  std::vector<std::vector<int32_t>> suffixes(n), targets(n);
  for (size_t i = 0; i < n; ++i) {
    const std::vector<int32_t> w = Tokenize(*windows[group.members[i]], tok);
    suffixes[i].assign(w.begin() + P - 1, w.end() - 1);
    targets[i].assign(w.begin() + P, w.end());
  }
  ASSIGN_OR_RETURN(const std::vector<float> lp, decoder.ExtendLogProbs(suffixes, targets));
  std::vector<double> scores(n);
  size_t row = 0;  // lp row of member i's lp(P)
  for (size_t i = 0; i < n; ++i) {
    // Summed in position order, as Predictor sums a full forward's log-probs.
    double sum = prefix_sum;
    for (size_t j = 0; j < targets[i].size(); ++j) sum += lp[row + j];
    scores[i] = sum;
    row += targets[i].size();
  }
  return scores;
}

}  // namespace evo2::variants
