#include "variants/variant_windows.h"

#include <algorithm>

namespace evo2::variants {

RecordWindows PlanRecordWindows(int64_t contig_bases, int64_t pos0, int64_t ref_bases,
                                std::span<const int64_t> alt_bases, int64_t window_bases) {
  RecordWindows w;
  w.alts.resize(alt_bases.size());
  const int64_t n = contig_bases;
  const int64_t p = pos0;
  const int64_t r = ref_bases;
  if (p < 0 || r <= 0 || p + r > n) {
    w.issue = VariantIssue::kOutOfRange;
    return w;
  }
  // The longest deletion among the scored alleles reads that many more reference bases.
  int64_t extra = 0;
  for (int64_t a : alt_bases) {
    if (a >= 0) extra = std::max(extra, r - a);
  }
  w.length = std::min(window_bases, n - extra);
  w.shortened = w.length < window_bases;
  if (w.length < r) {
    w.issue = VariantIssue::kTooLong;
    return w;
  }
  const int64_t centred = p - (w.length - r) / 2;
  w.ref_start = std::clamp<int64_t>(centred, 0, n - w.length);
  w.off_centre = w.ref_start != centred || w.shortened;
  for (size_t i = 0; i < alt_bases.size(); ++i) {
    const int64_t a = alt_bases[i];
    AltWindow& alt = w.alts[i];
    if (a < 0) continue;  // not scored; the caller carries its reason
    if (a > w.length) {
      alt.issue = VariantIssue::kTooLong;
      continue;
    }
    int64_t left = std::min(p - w.ref_start, w.length - a);
    int64_t right = w.length - a - left;
    if (const int64_t excess = p + r + right - n; excess > 0) {
      left += excess;
      right -= excess;
    }
    alt.left_start = p - left;
    alt.left_bases = left;
    alt.right_bases = right;
    if (alt.left_start != w.ref_start) w.off_centre = true;
  }
  return w;
}

}  // namespace evo2::variants
