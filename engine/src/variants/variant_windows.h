// Where the ref and alt windows of one VCF record lie on its contig: pure arithmetic, no I/O
// (docs/variant-scoring.md §2 states the rule; tests cut windows by that text, independently).
//
// Contig of N bases, REF at 0-based p with r bases, window length L, alleles of a_i bases:
//   W = min(L, N - max(0, r - min_i a_i))      (a deletion's alt window reads r - a bases more)
//   ref window: start s = clamp(p - floor((W - r) / 2), 0, N - W), bases [s, s + W)
//   alt window: left flank ref[p - left, p), the ALT, right flank ref[p + r, p + r + right) with
//     left = min(p - s, W - a), right = W - a - left, and when p + r + right > N both slide
//     left by the excess. So the alt window starts where the ref window does unless the ALT
//     does not fit after the shared left flank or the contig ends first.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "variants/variant_issue.h"

namespace evo2::variants {

struct AltWindow {
  VariantIssue issue = VariantIssue::kNone;  // kTooLong when a > W
  int64_t left_start = 0;                    // 0-based contig position of the window's first base
  int64_t left_bases = 0;                    // reference bases before the ALT
  int64_t right_bases = 0;                   // reference bases after the ALT, starting at p + r
};

struct RecordWindows {
  VariantIssue issue = VariantIssue::kNone;  // kOutOfRange, kTooLong (REF longer than W)
  int64_t length = 0;                        // W
  int64_t ref_start = 0;                     // s
  // The ref window is not centred on REF or is shorter than asked (a contig end is near), or an
  // alt window starts elsewhere than the ref window (contig end, or an ALT too long for the
  // shared left flank): reported as INFO EVO2_EDGE.
  bool off_centre = false;
  bool shortened = false;
  std::vector<AltWindow> alts;  // parallel to alt_bases
};

// `alt_bases[i]` < 0 marks an allele that is not scored (symbolic, ...): it takes no part in W.
RecordWindows PlanRecordWindows(int64_t contig_bases, int64_t pos0, int64_t ref_bases,
                                std::span<const int64_t> alt_bases, int64_t window_bases);

}  // namespace evo2::variants
