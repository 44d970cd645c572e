#include "variants/shared_prefix.h"

#include <algorithm>
#include <numeric>

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
  const int64_t V = decoder.vocab_size();
  const std::vector<int32_t> head = Tokenize(*windows[group.members[0]], tok);
  // prefix_logits [P, V]: row t predicts prefix token t + 1 (row P − 1 the first suffix token).
  const std::vector<std::vector<int32_t>> first = {{head.begin(), head.begin() + 1}};
  ASSIGN_OR_RETURN(std::vector<float> prefix_logits, decoder.Prefill(first));
  if (P > 1) {
    const std::vector<std::vector<int32_t>> rest = {{head.begin() + 1, head.begin() + P}};
    ASSIGN_OR_RETURN(std::vector<float> rest_logits, decoder.Extend(rest));
    prefix_logits.insert(prefix_logits.end(), rest_logits.begin(), rest_logits.end());
  }
  auto row = [V](const std::vector<float>& m, int64_t r) {
    return std::span<const float>(m.data() + r * V, static_cast<size_t>(V));
  };
  double prefix_sum = 0;  // log p(w[t] | w[..t−1]) for t = 1..P−1, shared by every member
  for (int64_t t = 1; t < P; ++t) prefix_sum += TokenLogProb(row(prefix_logits, t - 1), head[t]);

  const size_t n = group.members.size();
  RETURN_IF_ERROR(decoder.Select(std::vector<int64_t>(n, 0)));
  std::vector<std::vector<int32_t>> tokens(n), suffixes(n);
  for (size_t i = 0; i < n; ++i) {
    tokens[i] = Tokenize(*windows[group.members[i]], tok);
    suffixes[i].assign(tokens[i].begin() + P, tokens[i].end());
  }
  ASSIGN_OR_RETURN(std::vector<float> logits, decoder.Extend(suffixes));  // [Σ suffix, V]
  std::vector<double> scores(n);
  int64_t base = 0;  // logits row of member i's first suffix position
  for (size_t i = 0; i < n; ++i) {
    const std::vector<int32_t>& w = tokens[i];
    const auto len = static_cast<int64_t>(w.size());
    // Summed in position order, as Predictor sums a full forward's log-probs.
    double sum = prefix_sum + TokenLogProb(row(prefix_logits, P - 1), w[P]);
    for (int64_t t = P + 1; t < len; ++t) sum += TokenLogProb(row(logits, base + t - 1 - P), w[t]);
    scores[i] = sum;
    base += len - P;
  }
  return scores;
}

}  // namespace evo2::variants
