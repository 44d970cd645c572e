// PlanRecordWindows and the allele checks on hand-worked cases of docs/variant-scoring.md §2-3
// (the end-to-end exactness against `evo2 predict` is tests/cli/score_variants_test.cc).
#include "variants/variant_windows.h"

#include <vector>

#include "gtest/gtest.h"
#include "variants/allele.h"

namespace evo2::variants {
namespace {

TEST(VariantWindows, SnvIsCentred) {
  const std::vector<int64_t> alts = {1};
  // N = 1000, REF at 0-based 500, W = 10: s = 500 - floor(9 / 2) = 496.
  const RecordWindows w = PlanRecordWindows(1000, 500, 1, alts, 10);
  EXPECT_EQ(w.issue, VariantIssue::kNone);
  EXPECT_EQ(w.length, 10);
  EXPECT_EQ(w.ref_start, 496);
  EXPECT_FALSE(w.off_centre);
  EXPECT_EQ(w.alts[0].left_start, 496);
  EXPECT_EQ(w.alts[0].left_bases, 4);
  EXPECT_EQ(w.alts[0].right_bases, 5);
}

TEST(VariantWindows, IndelsShareTheLeftFlank) {
  const std::vector<int64_t> alts = {4, 1};  // insertion of 3, deletion of 2 (REF 3 bases)
  const RecordWindows w = PlanRecordWindows(1000, 500, 3, alts, 11);
  EXPECT_EQ(w.ref_start, 496);  // 500 - floor((11 - 3) / 2)
  EXPECT_EQ(w.alts[0].left_start, 496);
  EXPECT_EQ(w.alts[0].left_bases + 4 + w.alts[0].right_bases, 11);
  EXPECT_EQ(w.alts[0].right_bases, 3);
  EXPECT_EQ(w.alts[1].left_bases + 1 + w.alts[1].right_bases, 11);
  EXPECT_EQ(w.alts[1].right_bases, 6);
  EXPECT_FALSE(w.off_centre);
}

TEST(VariantWindows, ContigEndsMoveTheWindow) {
  const std::vector<int64_t> snv = {1};
  RecordWindows w = PlanRecordWindows(100, 1, 1, snv, 20);
  EXPECT_EQ(w.ref_start, 0);
  EXPECT_TRUE(w.off_centre);
  w = PlanRecordWindows(100, 98, 1, snv, 20);
  EXPECT_EQ(w.ref_start, 80);
  EXPECT_TRUE(w.off_centre);
  // Deleting the last 4 bases: the alt window has no right flank and starts 4 bases earlier.
  const std::vector<int64_t> del = {1};
  w = PlanRecordWindows(100, 95, 5, del, 20);
  EXPECT_EQ(w.ref_start, 80);
  EXPECT_EQ(w.alts[0].right_bases, 0);
  EXPECT_EQ(w.alts[0].left_bases, 19);
  EXPECT_EQ(w.alts[0].left_start, 76);
}

TEST(VariantWindows, ShortContigShortensAndLongAllelesAreRefused) {
  const std::vector<int64_t> alts = {1, -1, 30};  // scored, not scored (symbolic), too long
  const RecordWindows w = PlanRecordWindows(25, 10, 1, alts, 40);
  EXPECT_EQ(w.length, 25);
  EXPECT_TRUE(w.shortened);
  EXPECT_EQ(w.alts[0].issue, VariantIssue::kNone);
  EXPECT_EQ(w.alts[2].issue, VariantIssue::kTooLong);
  const std::vector<int64_t> snv = {1};
  EXPECT_EQ(PlanRecordWindows(25, 24, 2, snv, 40).issue, VariantIssue::kOutOfRange);
  EXPECT_EQ(PlanRecordWindows(1000, 10, 50, snv, 40).issue, VariantIssue::kTooLong);
}

TEST(Alleles, Classified) {
  EXPECT_EQ(ClassifyAlt("ACGTN"), VariantIssue::kNone);
  EXPECT_EQ(ClassifyAlt("acg"), VariantIssue::kNone);
  EXPECT_EQ(ClassifyAlt("<DEL>"), VariantIssue::kSymbolic);
  EXPECT_EQ(ClassifyAlt("<*>"), VariantIssue::kSymbolic);
  EXPECT_EQ(ClassifyAlt("A[chr2:100["), VariantIssue::kBreakend);
  EXPECT_EQ(ClassifyAlt("]chr2:100]A"), VariantIssue::kBreakend);
  EXPECT_EQ(ClassifyAlt(".A"), VariantIssue::kBreakend);
  EXPECT_EQ(ClassifyAlt("*"), VariantIssue::kNoAlt);
  EXPECT_EQ(ClassifyAlt("R"), VariantIssue::kBadBases);
  EXPECT_TRUE(SameBases("acgt", "ACGT"));
  EXPECT_FALSE(SameBases("ACGT", "ACGA"));
  EXPECT_FALSE(HasNucleotide("NNNN"));
  EXPECT_TRUE(HasNucleotide("NNaN"));
  EXPECT_EQ(ReverseComplement("AACGTn"), "nACGTT");
}

}  // namespace
}  // namespace evo2::variants
