#include "evo2/record_capacity.h"

#include "absl/strings/str_cat.h"

namespace evo2 {

absl::StatusOr<int64_t> MaxRecordTokens(const Model& model, const ForwardOptions& options,
                                        int64_t budget_bytes, int64_t max_tokens) {
  if (budget_bytes < 1 || max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("MaxRecordTokens: budget ", budget_bytes,
                                                   " bytes and max_tokens ", max_tokens,
                                                   " must both be positive"));
  }
  auto fits = [&](int64_t tokens) -> absl::StatusOr<bool> {
    const std::optional<int64_t> need = model.ForwardWorkingBytes(tokens, options);
    if (!need.has_value()) {
      return absl::UnimplementedError(absl::StrCat(
          "the ", model.backend_name(), " backend does not estimate its working memory"));
    }
    return *need <= budget_bytes;
  };
  // 2 tokens: the shortest record that has a log-probability (BOS + one base).
  const int64_t shortest = std::min<int64_t>(2, max_tokens);
  absl::StatusOr<bool> shortest_fits = fits(shortest);
  if (!shortest_fits.ok()) return shortest_fits.status();
  if (!*shortest_fits) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a ", shortest, "-token record needs more than the working-memory budget of ",
                     budget_bytes, " bytes on the ", model.backend_name(), " backend"));
  }
  int64_t lo = shortest, hi = max_tokens;  // invariant: lo fits; every S > hi is out of range
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    absl::StatusOr<bool> mid_fits = fits(mid);
    if (!mid_fits.ok()) return mid_fits.status();
    if (*mid_fits) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

absl::StatusOr<int64_t> DefaultWorkingMemoryBudgetBytes(const Model& model) {
  const std::optional<int64_t> free_bytes = model.FreeWorkingMemoryBytes();
  if (!free_bytes.has_value()) {
    return absl::UnavailableError(
        absl::StrCat("the ", model.backend_name(), " backend cannot tell how much memory is free"));
  }
  return *free_bytes;
}

}  // namespace evo2
