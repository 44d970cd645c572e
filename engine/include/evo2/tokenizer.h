// Byte-level tokenizer of Evo 2 (docs/spec/model.md §3; docs/spec/predict-cli.md §2.3-2.4).
// Token id = byte value; vocabulary 512 (ids 256..511 are never produced). End-of-document = 0,
// pad = 1; there is no BOS token: "prepend BOS" prepends the EOD id (0), as bionemo predict and
// the Arc scoring helper do. bionemo predict upper-cases every sequence first (`str.upper()`),
// the Arc/vortex scoring code does not; `keep_case` selects the latter.
// `eden` patches the ids the way `--eden-tokenizer` does: pad 0, bos 1, eos/EOD 2, sep 3.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace evo2 {

inline constexpr int kVocabSize = 512;

struct TokenizerOptions {
  bool keep_case = false;    // false: ASCII a-z -> A-Z first, like bionemo predict
  bool prepend_bos = false;  // prepend the EOD id (0, or 2 with eden)
  bool eden = false;
};

int32_t EodId(const TokenizerOptions& options);  // 0, eden 2
int32_t PadId(const TokenizerOptions& options);  // 1, eden 0

// [len(sequence) + prepend_bos] ids.
std::vector<int32_t> Tokenize(std::string_view sequence, const TokenizerOptions& options);

// The reference's loss mask for a record (docs/spec/predict-cli.md §2.1, §2.4): 1 everywhere,
// 0 at a prepended BOS; with `mask_phylogenetic_tags` ANDed with PhylogeneticTagMask(tokens).
std::vector<int64_t> LossMask(const std::vector<int32_t>& tokens, const TokenizerOptions& options,
                              bool mask_phylogenetic_tags);

// NeMo's Evo2Dataset.mask_phylogenetic_tags for one row: 0 on `|d__…;p__…|` taxonomy tags, on
// their pipes and on tokens that are neither DNA (ACGTN, either case) nor control tags (@ #);
// 1 elsewhere and always 1 on EOD tokens (which split the row into independent segments).
std::vector<int64_t> PhylogeneticTagMask(const std::vector<int32_t>& tokens, int32_t eod_id);

}  // namespace evo2
