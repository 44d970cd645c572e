// NeMo Evo2Dataset.mask_phylogenetic_tags (nemo/collections/llm/gpt/data/megatron/hyena/
// evo2_dataset.py), used by predict's --mask-phylogenetic-tags (docs/spec/predict-cli.md §1.1).
// Rules, per segment between EOD tokens:
//   * pipes ('|') are masked;
//   * no pipe: the segment is masked entirely unless every token is DNA or a control tag;
//   * with pipes, a state machine alternates tag / non-tag regions between pipes; the starting
//     state is "tag before the first pipe" unless the token after the first pipe is 'd' (the start
//     of `d__domain`); a segment ending in its first pipe masks the prefix only if it is not DNA;
//   * finally every token that is neither DNA nor a control tag is masked and EOD tokens are 1.
#include <algorithm>
#include <cstddef>

#include "evo2/tokenizer.h"

namespace evo2 {
namespace {

constexpr int32_t kPipe = 124;          // '|'
constexpr int32_t kDomainPrefix = 100;  // 'd'

bool IsDnaOrControl(int32_t t) {
  switch (t) {
    case 'A': case 'C': case 'G': case 'T': case 'N':
    case 'a': case 'c': case 'g': case 't': case 'n':
    case '@': case '#':  // control tags (CONTROL_TAGS = [64, 35])
      return true;
    default:
      return false;
  }
}

void MaskSegment(const std::vector<int32_t>& tokens, size_t begin, size_t end,
                 std::vector<int64_t>* mask) {
  std::vector<size_t> pipes;
  for (size_t i = begin; i < end; ++i) {
    if (tokens[i] == kPipe) pipes.push_back(i);
  }
  auto all_valid = [&](size_t b, size_t e) {
    return std::all_of(tokens.begin() + static_cast<std::ptrdiff_t>(b),
                       tokens.begin() + static_cast<std::ptrdiff_t>(e), IsDnaOrControl);
  };
  auto zero = [&](size_t b, size_t e) {
    std::fill(mask->begin() + static_cast<std::ptrdiff_t>(b), mask->begin() + static_cast<std::ptrdiff_t>(e),
              0);
  };
  if (pipes.empty()) {
    if (!all_valid(begin, end)) zero(begin, end);
    return;
  }
  for (size_t p : pipes) (*mask)[p] = 0;
  const size_t first = pipes.front();
  if (first == end - 1) {  // the segment ends with its first pipe
    if (!all_valid(begin, first)) zero(begin, first);
    return;
  }
  bool is_tag = tokens[first + 1] != kDomainPrefix;
  size_t start = begin;
  for (size_t p : pipes) {
    if (is_tag) zero(start, p);
    is_tag = !is_tag;
    start = p + 1;
  }
  if (is_tag) zero(start, end);
}

}  // namespace

std::vector<int64_t> PhylogeneticTagMask(const std::vector<int32_t>& tokens, int32_t eod_id) {
  std::vector<int64_t> mask(tokens.size(), 1);
  if (tokens.size() == 1) {  // the reference's special case for one token
    if (tokens[0] == kPipe || tokens[0] == '_' || tokens[0] == ';' || tokens[0] == ' ') mask[0] = 0;
    return mask;
  }
  size_t start = 0;
  for (size_t i = 0; i <= tokens.size(); ++i) {
    if (i == tokens.size() || tokens[i] == eod_id) {
      if (i > start) MaskSegment(tokens, start, i, &mask);
      start = i + 1;
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!IsDnaOrControl(tokens[i])) mask[i] = 0;
    if (tokens[i] == eod_id) mask[i] = 1;
  }
  return mask;
}

}  // namespace evo2
