// The alleles of a VCF record as text: which ALT alleles can be scored, and the reverse
// complement used for the second strand (docs/variant-scoring.md §3).
#pragma once

#include <string>
#include <string_view>

#include "variants/variant_issue.h"

namespace evo2::variants {

// Why an allele cannot be put into a window, or kNone. Alleles are compared case-insensitively;
// only A, C, G, T and N are sequence (IUPAC ambiguity codes are refused: the model never saw
// them). Symbolic (<...>), breakend ([, ], or a leading/trailing '.') and "*" / "." ALTs are
// refused with their own reason.
VariantIssue ClassifyAlt(std::string_view alt);
VariantIssue ClassifyRef(std::string_view ref);

// True when `ref` equals `genome` ignoring case.
bool SameBases(std::string_view ref, std::string_view genome);

// True when the window holds at least one A, C, G or T (either case).
bool HasNucleotide(std::string_view window);

// Reverse complement; A<->T, C<->G, N and any other byte kept; case kept.
std::string ReverseComplement(std::string_view bases);

}  // namespace evo2::variants
