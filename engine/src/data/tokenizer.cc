#include "evo2/tokenizer.h"

namespace evo2 {

int32_t EodId(const TokenizerOptions& options) { return options.eden ? 2 : 0; }
int32_t PadId(const TokenizerOptions& options) { return options.eden ? 0 : 1; }

std::vector<int32_t> Tokenize(std::string_view sequence, const TokenizerOptions& options) {
  std::vector<int32_t> tokens;
  tokens.reserve(sequence.size() + (options.prepend_bos ? 1 : 0));
  if (options.prepend_bos) tokens.push_back(EodId(options));
  for (char ch : sequence) {
    auto c = static_cast<unsigned char>(ch);
    // Python's str.upper() on FASTA's ASCII letters (docs/spec/predict-cli.md §2.1); the FASTA
    // reader rejects non-ASCII bytes, so no other case mapping can apply.
    if (!options.keep_case && c >= 'a' && c <= 'z') c = static_cast<unsigned char>(c - 32);
    tokens.push_back(static_cast<int32_t>(c));
  }
  return tokens;
}

std::vector<int64_t> LossMask(const std::vector<int32_t>& tokens, const TokenizerOptions& options,
                              bool mask_phylogenetic_tags) {
  std::vector<int64_t> mask(tokens.size(), 1);
  if (mask_phylogenetic_tags) mask = PhylogeneticTagMask(tokens, EodId(options));
  if (options.prepend_bos && !mask.empty()) mask[0] = 0;
  return mask;
}

}  // namespace evo2
