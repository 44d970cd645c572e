// Why an allele or a record could not be scored: one FILTER ID per reason in the annotated VCF
// (docs/variant-scoring.md §4), the same word in the TSV's status column.
#pragma once

#include <string>

namespace evo2::variants {

enum class VariantIssue {
  kNone,
  kNoContig,     // CHROM not in the reference, with or without a "chr" prefix
  kOutOfRange,   // REF runs past the end of the contig
  kRefMismatch,  // REF differs from the reference bases at POS
  kSymbolic,     // <DEL>, <INS>, <*>, ...
  kBreakend,     // ]chr:pos]A, A[chr:pos[, .A, A.
  kNoAlt,        // ALT missing (".") or an overlapping deletion ("*")
  kBadBases,     // an allele with letters other than A, C, G, T, N
  kTooLong,      // an allele longer than the window
  kNWindow,      // a window holding no A, C, G or T at all
};

// "EVO2_NO_CONTIG", ...; "" for kNone.
const char* IssueFilterId(VariantIssue issue);
// One sentence for the VCF header's FILTER description.
const char* IssueDescription(VariantIssue issue);
// Every issue but kNone, for declaring the FILTER lines.
inline constexpr VariantIssue kAllIssues[] = {
    VariantIssue::kNoContig, VariantIssue::kOutOfRange, VariantIssue::kRefMismatch,
    VariantIssue::kSymbolic, VariantIssue::kBreakend,   VariantIssue::kNoAlt,
    VariantIssue::kBadBases, VariantIssue::kTooLong,    VariantIssue::kNWindow};

}  // namespace evo2::variants
