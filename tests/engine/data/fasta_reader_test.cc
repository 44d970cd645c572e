// Streaming FASTA reader: the accepted format and every rejected input (errors name the file,
// line and record).
#include <sstream>
#include <string>
#include <vector>

#include "evo2/fasta.h"
#include "gtest/gtest.h"
#include "support/expect_contains.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

absl::StatusOr<std::vector<FastaRecord>> ReadAll(const std::string& text,
                                                 const FastaOptions& options = {}) {
  auto reader =
      FastaReader::FromStream(std::make_unique<std::istringstream>(text), "mem.fa", options);
  std::vector<FastaRecord> out;
  while (true) {
    auto r = reader->Next();
    if (!r.ok()) return r.status();
    if (!r->has_value()) return out;
    out.push_back(std::move(**r));
  }
}

TEST(FastaReader, MultiLineHeadersDescriptionsCaseAndIupac) {
  auto records = ReadAll(">chr1 some description\there\nACGT\nacgtN\nRYKM\n>chr2\nGG\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].name, "chr1");
  EXPECT_EQ((*records)[0].description, "some description\there");
  EXPECT_EQ((*records)[0].sequence, "ACGTacgtNRYKM");
  EXPECT_EQ((*records)[0].header_line, 1);
  EXPECT_EQ((*records)[1].name, "chr2");
  EXPECT_EQ((*records)[1].description, "");
  EXPECT_EQ((*records)[1].sequence, "GG");
  EXPECT_EQ((*records)[1].header_line, 5);
}

TEST(FastaReader, CrlfBlankLinesAndMissingFinalNewline) {
  auto records = ReadAll("\r\n\n>a x\r\nAC\r\n\r\nGT\r\n\n>b\nTT");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].sequence, "ACGT");
  EXPECT_EQ((*records)[0].description, "x");
  EXPECT_EQ((*records)[1].sequence, "TT");
}

TEST(FastaReader, FromFile) {
  testing::TempDir dir;
  const auto path = dir.Write("in.fa", ">r1\nACGT\n");
  auto reader = FastaReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto r = (*reader)->Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->sequence, "ACGT");
  auto end = (*reader)->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(FastaReader, MissingFileIsNotFound) {
  auto reader = FastaReader::Open("/nonexistent/dir/x.fa");
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EVO2_EXPECT_CONTAINS(reader.status().message(), "/nonexistent/dir/x.fa");
}

struct BadCase {
  const char* label;
  std::string text;
  std::vector<std::string> expect;  // substrings of the message
};

class FastaReaderRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(FastaReaderRejects, WithAMessageNamingWhereAndWhat) {
  auto records = ReadAll(GetParam().text);
  ASSERT_FALSE(records.ok()) << GetParam().label;
  EXPECT_EQ(records.status().code(), absl::StatusCode::kInvalidArgument);
  for (const auto& s : GetParam().expect) {
    EVO2_EXPECT_CONTAINS(records.status().message(), s) << GetParam().label;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, FastaReaderRejects,
    ::testing::Values(
        BadCase{"empty", "", {"mem.fa", "empty FASTA"}},
        BadCase{"only blank lines", "\n\n  \n", {"empty FASTA"}},
        BadCase{"no header", "ACGT\n>r\nAC\n", {"mem.fa:1:", "before the first '>'"}},
        BadCase{"record without sequence", ">a\nAC\n>b\n\n>c\nGG\n",
                {"mem.fa:3:", "record \"b\"", "no sequence"}},
        BadCase{"last record without sequence", ">a\nAC\n>b desc\n", {"record \"b\"", "no sequence"}},
        BadCase{"duplicate names", ">a x\nAC\n>b\nA\n>a y\nGG\n",
                {"mem.fa:5:", "duplicate record \"a\"", "line 1"}},
        BadCase{"nameless header", "> desc\nAC\n", {"mem.fa:1:", "no record name"}},
        BadCase{"binary NUL in sequence", std::string(">a\nAC\0GT\n", 9),
                {"mem.fa:2:", "record \"a\"", "0x00", "column 3"}},
        BadCase{"binary file", std::string("\x7f" "ELF\x02\x01\x01\0\0", 9), {"not a FASTA text file"}},
        BadCase{"gzip", std::string("\x1f\x8b\x08\x00", 4), {"gzip"}},
        BadCase{"space inside sequence", ">a\nAC GT\n", {"mem.fa:2:", "space", "column 3"}},
        BadCase{"non-ascii base", ">a\nAC\xc3\xa9\n", {"mem.fa:2:", "not ASCII"}},
        BadCase{"lone carriage return", ">a\nAC\rGT\n", {"mem.fa:2:", "carriage return"}},
        BadCase{"invalid utf-8 header", ">a\xff\nAC\n", {"mem.fa:1:", "UTF-8"}}),
    [](const auto& param_info) {
      std::string s = param_info.param.label;
      for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return s;
    });

TEST(FastaReader, OverLongLinesAreRefused) {
  FastaOptions options;
  options.max_line_bytes = 16;
  options.max_header_bytes = 8;
  auto ok = ReadAll(">abc\n" + std::string(16, 'A') + "\n", options);
  EXPECT_TRUE(ok.ok()) << ok.status();
  auto seq = ReadAll(">abc\n" + std::string(17, 'A') + "\n", options);
  ASSERT_FALSE(seq.ok());
  EVO2_EXPECT_CONTAINS(seq.status().message(), "mem.fa:2:");
  EVO2_EXPECT_CONTAINS(seq.status().message(), "limit of 16 bytes");
  EVO2_EXPECT_CONTAINS(seq.status().message(), "record \"abc\"");
  auto header = ReadAll(">abcdefghij\nAC\n", options);
  ASSERT_FALSE(header.ok());
  EVO2_EXPECT_CONTAINS(header.status().message(), "header longer than the limit of 8");
  // A line over the limit without any newline (e.g. a binary blob) is refused as well.
  auto blob = ReadAll(">a\n" + std::string(3 << 20, 'C'), options);
  ASSERT_FALSE(blob.ok());
  EVO2_EXPECT_CONTAINS(blob.status().message(), "limit of 16 bytes");
}

TEST(FastaReader, LongLinesAcrossBufferBoundaries) {
  // Lines straddling the reader's 1 MiB chunks must come back intact.
  std::string seq;
  for (int i = 0; i < (3 << 20) + 17; ++i) seq.push_back("ACGT"[i % 4]);
  auto records = ReadAll(">big\n" + seq + "\n>small\nA\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].sequence, seq);
  EXPECT_EQ((*records)[1].sequence, "A");
}

// FastaOptions::alphabet: a letter outside it is refused with its record, line and column.
TEST(FastaReader, AlphabetRefusesOtherLettersWithRecordLineAndColumn) {
  FastaOptions options;
  options.alphabet = "ACGTN";
  ASSERT_TRUE(ReadAll(">a\nacgtn\nACGT\n", options).ok());
  auto bad = ReadAll(">a\nACGT\n>b\nACGT\nACRT\n", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(bad.status().message());
  EXPECT_NE(m.find("mem.fa:5:"), std::string::npos) << m;
  EXPECT_NE(m.find("record \"b\""), std::string::npos) << m;
  EXPECT_NE(m.find("column 3"), std::string::npos) << m;
  EXPECT_NE(m.find("alphabet ACGTN"), std::string::npos) << m;
  EXPECT_TRUE(ReadAll(">a\nACRT\n").ok());  // no alphabet: any letter
}

}  // namespace
}  // namespace evo2
