#include "variants/variant_issue.h"

namespace evo2::variants {

const char* IssueFilterId(VariantIssue issue) {
  switch (issue) {
    case VariantIssue::kNone:
      return "";
    case VariantIssue::kNoContig:
      return "EVO2_NO_CONTIG";
    case VariantIssue::kOutOfRange:
      return "EVO2_OUT_OF_RANGE";
    case VariantIssue::kRefMismatch:
      return "EVO2_REF_MISMATCH";
    case VariantIssue::kSymbolic:
      return "EVO2_SYMBOLIC";
    case VariantIssue::kBreakend:
      return "EVO2_BREAKEND";
    case VariantIssue::kNoAlt:
      return "EVO2_NO_ALT";
    case VariantIssue::kBadBases:
      return "EVO2_BAD_BASES";
    case VariantIssue::kTooLong:
      return "EVO2_TOO_LONG";
    case VariantIssue::kNWindow:
      return "EVO2_N_WINDOW";
  }
  return "EVO2_UNKNOWN";
}

const char* IssueDescription(VariantIssue issue) {
  switch (issue) {
    case VariantIssue::kNone:
      return "";
    case VariantIssue::kNoContig:
      return "Not scored by Evo 2: CHROM is not in the reference (tried with and without chr)";
    case VariantIssue::kOutOfRange:
      return "Not scored by Evo 2: REF runs past the contig end";
    case VariantIssue::kRefMismatch:
      return "Not scored by Evo 2: REF differs from the reference sequence";
    case VariantIssue::kSymbolic:
      return "Not scored by Evo 2: symbolic ALT allele";
    case VariantIssue::kBreakend:
      return "Not scored by Evo 2: breakend ALT allele";
    case VariantIssue::kNoAlt:
      return "Not scored by Evo 2: ALT missing or an overlapping deletion (*)";
    case VariantIssue::kBadBases:
      return "Not scored by Evo 2: an allele holds letters other than A, C, G, T, N";
    case VariantIssue::kTooLong:
      return "Not scored by Evo 2: an allele is longer than the window";
    case VariantIssue::kNWindow:
      return "Not scored by Evo 2: a window holds no A, C, G or T base";
  }
  return "Not scored by Evo 2";
}

}  // namespace evo2::variants
