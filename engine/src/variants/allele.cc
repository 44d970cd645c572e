#include "variants/allele.h"

#include <algorithm>

namespace evo2::variants {
namespace {

bool IsSequenceBase(char c) {
  switch (c) {
    case 'A':
    case 'C':
    case 'G':
    case 'T':
    case 'N':
    case 'a':
    case 'c':
    case 'g':
    case 't':
    case 'n':
      return true;
    default:
      return false;
  }
}

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

VariantIssue ClassifyAlt(std::string_view alt) {
  if (alt.empty() || alt == "." || alt == "*") return VariantIssue::kNoAlt;
  if (alt.front() == '<') return VariantIssue::kSymbolic;
  if (alt.find_first_of("[]") != std::string_view::npos || alt.front() == '.' ||
      alt.back() == '.') {
    return VariantIssue::kBreakend;
  }
  return std::all_of(alt.begin(), alt.end(), IsSequenceBase) ? VariantIssue::kNone
                                                             : VariantIssue::kBadBases;
}

VariantIssue ClassifyRef(std::string_view ref) {
  if (ref.empty()) return VariantIssue::kBadBases;
  return std::all_of(ref.begin(), ref.end(), IsSequenceBase) ? VariantIssue::kNone
                                                             : VariantIssue::kBadBases;
}

bool SameBases(std::string_view ref, std::string_view genome) {
  if (ref.size() != genome.size()) return false;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (Upper(ref[i]) != Upper(genome[i])) return false;
  }
  return true;
}

bool HasNucleotide(std::string_view window) {
  return std::any_of(window.begin(), window.end(), [](char c) {
    const char u = Upper(c);
    return u == 'A' || u == 'C' || u == 'G' || u == 'T';
  });
}

std::string ReverseComplement(std::string_view bases) {
  std::string out(bases.rbegin(), bases.rend());
  for (char& c : out) {
    switch (c) {
      case 'A':
        c = 'T';
        break;
      case 'C':
        c = 'G';
        break;
      case 'G':
        c = 'C';
        break;
      case 'T':
        c = 'A';
        break;
      case 'a':
        c = 't';
        break;
      case 'c':
        c = 'g';
        break;
      case 'g':
        c = 'c';
        break;
      case 't':
        c = 'a';
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace evo2::variants
