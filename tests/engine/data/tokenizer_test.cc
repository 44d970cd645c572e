// Byte-level tokenizer, loss mask, phylogenetic-tag mask (docs/spec/predict-cli.md §2.3-2.4).
#include <string>
#include <vector>

#include "evo2/tokenizer.h"
#include "gtest/gtest.h"

namespace evo2 {
namespace {

TEST(Tokenizer, UpperCasesLikeBionemoPredictByDefault) {
  EXPECT_EQ(Tokenize("ACGTNacgtn", {}),
            (std::vector<int32_t>{65, 67, 71, 84, 78, 65, 67, 71, 84, 78}));
}

TEST(Tokenizer, KeepCaseKeepsBytes) {
  TokenizerOptions o;
  o.keep_case = true;
  EXPECT_EQ(Tokenize("aCgT", o), (std::vector<int32_t>{97, 67, 103, 84}));
}

TEST(Tokenizer, BosIsTheEodIdAndMasked) {
  TokenizerOptions o;
  o.prepend_bos = true;
  const auto tokens = Tokenize("AC", o);
  EXPECT_EQ(tokens, (std::vector<int32_t>{0, 65, 67}));
  EXPECT_EQ(LossMask(tokens, o, false), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(LossMask(Tokenize("AC", {}), {}, false), (std::vector<int64_t>{1, 1}));
}

TEST(Tokenizer, EdenIds) {
  TokenizerOptions o;
  o.eden = true;
  o.prepend_bos = true;
  EXPECT_EQ(EodId(o), 2);
  EXPECT_EQ(PadId(o), 0);
  EXPECT_EQ(Tokenize("A", o), (std::vector<int32_t>{2, 65}));
  EXPECT_EQ(PadId({}), 1);
}

std::vector<int64_t> Mask(const std::string& s) {
  TokenizerOptions o;
  o.keep_case = true;
  return PhylogeneticTagMask(Tokenize(s, o), 0);
}

// Examples worked by hand from NeMo's rules (see phylogenetic_tag_mask.cc).
TEST(PhylogeneticTagMask, PlainDnaIsKept) {
  EXPECT_EQ(Mask("ACGTN"), (std::vector<int64_t>{1, 1, 1, 1, 1}));
}

TEST(PhylogeneticTagMask, NonDnaWithoutPipesMasksTheSegment) {
  EXPECT_EQ(Mask("ACRT"), (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(PhylogeneticTagMask, TagBetweenDna) {
  // "AC|d__x|GT": the token after the first pipe is 'd', so the prefix is DNA, the region between
  // the pipes is a tag and the suffix is DNA.
  EXPECT_EQ(Mask("AC|d__x|GT"), (std::vector<int64_t>{1, 1, 0, 0, 0, 0, 0, 0, 1, 1}));
}

TEST(PhylogeneticTagMask, TagBeforeFirstPipe) {
  // "s__y|AC": not 'd' after the first pipe -> the prefix is the tail of a tag.
  EXPECT_EQ(Mask("s__y|AC"), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1}));
}

TEST(PhylogeneticTagMask, EodSplitsSegmentsAndStaysUnmasked) {
  // BOS (0) then DNA: the EOD is kept; its own segment logic never sees it.
  std::vector<int32_t> tokens = {0, 'A', 'C'};
  EXPECT_EQ(PhylogeneticTagMask(tokens, 0), (std::vector<int64_t>{1, 1, 1}));
  TokenizerOptions o;
  o.prepend_bos = true;
  EXPECT_EQ(LossMask(Tokenize("AC", o), o, true), (std::vector<int64_t>{0, 1, 1}));
}

TEST(PhylogeneticTagMask, SegmentEndingInPipe) {
  EXPECT_EQ(Mask("ACG|"), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(Mask("d__|"), (std::vector<int64_t>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace evo2
