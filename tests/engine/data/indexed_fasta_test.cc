// IndexedFasta and .fai files: geometry equal to samtools', random access, stale-index detection.
#include <fstream>
#include <string>

#include "evo2/fai.h"
#include "evo2/fasta.h"
#include "gtest/gtest.h"
#include "support/expect_contains.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Geometry checked by hand against samtools' definition (NAME LENGTH OFFSET LINEBASES LINEWIDTH).
TEST(IndexedFasta, BuildsSamtoolsGeometryAndWritesFai) {
  testing::TempDir dir;
  const auto fa = dir.Write("g.fa", ">one first\nACGTA\nCGTAC\nGG\n>two\r\nAAAA\r\nCC\r\n\n>three\nT");
  auto fasta = IndexedFasta::Open(fa);
  ASSERT_TRUE(fasta.ok()) << fasta.status();
  EXPECT_FALSE(fasta->used_fai_file());
  ASSERT_EQ(fasta->size(), 3u);
  const auto& e = fasta->entries();
  EXPECT_EQ(e[0].name, "one");
  EXPECT_EQ(e[0].length, 12);
  EXPECT_EQ(e[0].offset, 11);
  EXPECT_EQ(e[0].line_bases, 5);
  EXPECT_EQ(e[0].line_width, 6);
  EXPECT_EQ(e[1].name, "two");
  EXPECT_EQ(e[1].length, 6);
  EXPECT_EQ(e[1].offset, 32);
  EXPECT_EQ(e[1].line_width, 6);  // CRLF: LINEBASES + 2
  EXPECT_EQ(e[2].length, 1);
  EXPECT_EQ(e[2].line_width, 2);  // no final newline: samtools still counts one
  EXPECT_EQ(*fasta->ReadSequence(0), "ACGTACGTACGG");
  EXPECT_EQ(*fasta->ReadSequence(1), "AAAACC");
  EXPECT_EQ(*fasta->ReadSequence(2), "T");
  EXPECT_EQ(fasta->Find("two"), std::optional<size_t>(1));
  EXPECT_EQ(fasta->Find("four"), std::nullopt);

  const auto fai = DefaultFaiPath(fa);
  ASSERT_TRUE(fasta->WriteFai(fai).ok());
  EXPECT_EQ(ReadFile(fai), "one\t12\t11\t5\t6\ntwo\t6\t32\t4\t6\nthree\t1\t50\t1\t2\n");

  // Reopened, the index file is used and gives the same records.
  auto again = IndexedFasta::Open(fa);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->used_fai_file());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(*again->ReadSequence(i), *fasta->ReadSequence(i));
}

TEST(IndexedFasta, IrregularLinesReadFineButCannotBeIndexed) {
  testing::TempDir dir;
  const auto fa = dir.Write("irr.fa", ">a\nACG\nACGTT\nA\n>b\nAC\n\nGT\n");
  auto fasta = IndexedFasta::Open(fa);
  ASSERT_TRUE(fasta.ok()) << fasta.status();
  EXPECT_EQ(*fasta->ReadSequence(0), "ACGACGTTA");
  EXPECT_EQ(*fasta->ReadSequence(1), "ACGT");
  auto st = fasta->WriteFai(DefaultFaiPath(fa));
  ASSERT_FALSE(st.ok());
  EVO2_EXPECT_CONTAINS(st.message(), "irr.fa:3:");
  EVO2_EXPECT_CONTAINS(st.message(), "record \"a\"");
  EXPECT_FALSE(std::filesystem::exists(DefaultFaiPath(fa)));
}

TEST(IndexedFasta, IgnoresFaiWhenAsked) {
  testing::TempDir dir;
  const auto fa = dir.Write("x.fa", ">a\nAC\n");
  dir.Write("x.fa.fai", "garbage\n");
  IndexedFasta::Options options;
  options.use_existing_fai = false;
  auto fasta = IndexedFasta::Open(fa, options);
  ASSERT_TRUE(fasta.ok()) << fasta.status();
  EXPECT_EQ(*fasta->ReadSequence(0), "AC");
  auto with_fai = IndexedFasta::Open(fa);
  ASSERT_FALSE(with_fai.ok());
  EVO2_EXPECT_CONTAINS(with_fai.status().message(), "x.fa.fai:1:");
}

struct StaleCase {
  const char* label;
  std::string fai;
  std::string expect;
};

class StaleFai : public ::testing::TestWithParam<StaleCase> {};

TEST_P(StaleFai, IsReportedNotMisread) {
  testing::TempDir dir;
  const auto fa = dir.Write("s.fa", ">a\nACGT\nAC\n>b\nGGG\n");
  dir.Write("s.fa.fai", GetParam().fai);
  auto fasta = IndexedFasta::Open(fa);
  absl::Status st = fasta.status();
  if (fasta.ok()) {
    for (size_t i = 0; i < fasta->size() && st.ok(); ++i) st = fasta->ReadSequence(i).status();
  }
  ASSERT_FALSE(st.ok()) << GetParam().label;
  EVO2_EXPECT_CONTAINS(st.message(), GetParam().expect);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StaleFai,
    ::testing::Values(
        StaleCase{"length_changed", "a\t5\t3\t4\t5\nb\t3\t14\t3\t4\n", "has 6 bases but the index says 5"},
        StaleCase{"offset_moved", "a\t6\t4\t4\t5\nb\t3\t14\t3\t4\n", "stale index"},
        StaleCase{"renamed", "z\t6\t3\t4\t5\nb\t3\t14\t3\t4\n", "header of \"a\""},
        StaleCase{"record_missing", "a\t6\t3\t4\t5\n", "unindexed record"},
        StaleCase{"beyond_eof", "a\t6\t3\t4\t5\nb\t3\t99\t3\t4\n", "outside the file"},
        StaleCase{"bad_field", "a\t6\t3\tx\t5\n", "LINEBASES 'x'"},
        StaleCase{"bad_width", "a\t6\t3\t4\t9\n", "LINEWIDTH 9"},
        StaleCase{"too_few_fields", "a\t6\t3\n", "expected 5 tab-separated fields"},
        StaleCase{"duplicate", "a\t6\t3\t4\t5\na\t3\t16\t3\t4\n", "duplicate record name"},
        StaleCase{"empty", "", "empty FASTA index"}),
    [](const auto& param_info) { return std::string(param_info.param.label); });

// A .fai matching the file byte for byte is used.
TEST(IndexedFasta, MatchingHandWrittenFaiIsAccepted) {
  testing::TempDir dir;
  const auto fa = dir.Write("s.fa", ">a\nACGT\nAC\n>b\nGGG\n");
  dir.Write("s.fa.fai", "a\t6\t3\t4\t5\nb\t3\t14\t3\t4\n");
  auto fasta = IndexedFasta::Open(fa);
  ASSERT_TRUE(fasta.ok()) << fasta.status();
  EXPECT_TRUE(fasta->used_fai_file());
  EXPECT_EQ(*fasta->ReadSequence(0), "ACGTAC");
  EXPECT_EQ(*fasta->ReadSequence(1), "GGG");
}

TEST(IndexedFasta, ScanErrorsAreTheReadersErrors) {
  testing::TempDir dir;
  auto empty = IndexedFasta::Open(dir.Write("e.fa", ""));
  ASSERT_FALSE(empty.ok());
  EVO2_EXPECT_CONTAINS(empty.status().message(), "empty FASTA");
  auto dup = IndexedFasta::Open(dir.Write("d.fa", ">a\nA\n>a\nC\n"));
  ASSERT_FALSE(dup.ok());
  EVO2_EXPECT_CONTAINS(dup.status().message(), "d.fa:3: duplicate record \"a\"");
  auto dir_as_file = IndexedFasta::Open(dir.path());
  ASSERT_FALSE(dir_as_file.ok());
  EVO2_EXPECT_CONTAINS(dir_as_file.status().message(), "not a regular file");
}

}  // namespace
}  // namespace evo2
