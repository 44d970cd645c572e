// `evo2 score-variants` end to end on the shipped demo model (CPU fp32).
//
// Exactness: every delta equals the difference of two `evo2 predict` runs' log-likelihoods on
// windows this test cuts itself, by the rule written in docs/variant-scoring.md §2 (an
// implementation of its own, not the engine's), for SNVs, an MNV, insertions, deletions,
// multi-allelic and split records, contig ends on both sides, a contig shorter than the window,
// `chr` matching both ways, a bgzipped reference, and both strands; with shared prefixes (the
// default: windows that start alike continue from one prefix forward) and without.
// Bad input: per-record reasons (FILTER + EVO2_STATUS), never a crash; unreadable inputs are one
// clear error line and leave no output.
#include <htslib/bgzf.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "evo2/npy.h"
#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::RunEvo2;
using testing::TempDir;

constexpr int64_t kWindow = 40;  // short windows keep the test to seconds

std::string RandomDna(std::mt19937& rng, int64_t n) {
  static const char kBases[] = "ACGT";
  std::string s(static_cast<size_t>(n), 'A');
  for (char& c : s) c = kBases[rng() % 4];
  return s;
}

std::string Fasta(const std::map<std::string, std::string>& contigs) {
  std::string out;
  for (const auto& [name, seq] : contigs) {
    absl::StrAppend(&out, ">", name, "\n");
    for (size_t i = 0; i < seq.size(); i += 60) absl::StrAppend(&out, seq.substr(i, 60), "\n");
  }
  return out;
}

std::string RevComp(const std::string& s) {
  std::string r(s.rbegin(), s.rend());
  for (char& c : r) c = c == 'A' ? 'T' : c == 'C' ? 'G' : c == 'G' ? 'C' : c == 'T' ? 'A' : c;
  return r;
}

char OtherBase(char c, int k) {
  static const char kBases[] = "ACGT";
  int i = 0;
  for (int j = 0; j < 4; ++j) {
    if (kBases[j] != c && i++ == k) return kBases[j];
  }
  return 'N';
}

struct TestVariant {
  std::string vcf_chrom;  // as in the VCF
  std::string contig;     // as in the reference
  int64_t pos = 0;        // 1-based
  std::string ref;
  std::vector<std::string> alts;
};

// The windows of docs/variant-scoring.md §2, cut from the text of the rule.
struct CutWindows {
  int64_t start = 0;  // 0-based
  int64_t length = 0;
  std::string ref;
  std::vector<std::string> alts;
};

CutWindows Cut(const std::string& seq, const TestVariant& v, int64_t window) {
  const auto n = static_cast<int64_t>(seq.size());
  const int64_t p = v.pos - 1;
  const auto r = static_cast<int64_t>(v.ref.size());
  int64_t min_alt = r;
  for (const auto& a : v.alts) min_alt = std::min<int64_t>(min_alt, static_cast<int64_t>(a.size()));
  CutWindows c;
  c.length = std::min(window, n - std::max<int64_t>(0, r - min_alt));
  int64_t s = p - (c.length - r) / 2;
  if (s > n - c.length) s = n - c.length;
  if (s < 0) s = 0;
  c.start = s;
  c.ref = seq.substr(static_cast<size_t>(s), static_cast<size_t>(c.length));
  for (const auto& alt : v.alts) {
    const auto a = static_cast<int64_t>(alt.size());
    int64_t left = std::min(p - s, c.length - a);
    int64_t right = c.length - a - left;
    if (p + r + right > n) {
      left += p + r + right - n;
      right = n - p - r;
    }
    c.alts.push_back(seq.substr(static_cast<size_t>(p - left), static_cast<size_t>(left)) + alt +
                     seq.substr(static_cast<size_t>(p + r), static_cast<size_t>(right)));
  }
  return c;
}

std::string Vcf(const std::vector<TestVariant>& vs, const std::string& extra_header = "") {
  std::string out =
      "##fileformat=VCFv4.2\n" + extra_header + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  int i = 0;
  for (const auto& v : vs) {
    std::string alts;
    for (const auto& a : v.alts) absl::StrAppend(&alts, alts.empty() ? "" : ",", a);
    absl::StrAppend(&out, v.vcf_chrom, "\t", v.pos, "\tv", i++, "\t", v.ref, "\t", alts,
                    "\t.\tPASS\t.\n");
  }
  return out;
}

// TSV rows: [chrom, pos, id, ref, alt, status, delta, ref_ll, alt_ll, window_start, bases, ...]
std::vector<std::vector<std::string>> ReadTsv(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  std::getline(in, line);  // header
  while (std::getline(in, line)) rows.push_back(absl::StrSplit(line, '\t'));
  return rows;
}

// Sum of `evo2 predict`'s per-token log-probs of each record (no BOS: bases 2..L).
std::map<std::string, double> PredictSums(const TempDir& dir,
                                          const std::map<std::string, std::string>& windows) {
  const auto fasta = dir.Write("windows.fa", Fasta(windows));
  const auto out = dir.path() / "predict";
  auto r = RunEvo2({"predict", "--fasta", fasta.string(), "--output-dir", out.string(),
                    "--output-format", "npy", "--output-log-prob-seqs",
                    "--log-prob-collapse-option", "per_token", "--threads", "2", "--quiet"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> sums;
  for (const auto& [name, seq] : windows) {
    auto t = ReadNpy(out / (name + ".log_probs.npy"));
    EXPECT_TRUE(t.ok()) << name << ": " << t.status();
    if (!t.ok()) continue;
    auto v = t->ToFloat32();
    EXPECT_EQ(v->size(), seq.size() - 1) << name;
    double s = 0;
    for (float x : *v) s += x;
    sums[name] = s;
  }
  return sums;
}

void WriteBgzf(const std::filesystem::path& path, const std::string& bytes) {
  BGZF* f = bgzf_open(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(bgzf_write(f, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(bgzf_close(f), 0);
}

class ScoreVariantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(testing::SourceDir() / "models" / "evo2-demo" / "model.pt")) {
      GTEST_SKIP() << "demo model not in this tree";
    }
    std::mt19937 rng(17);
    contigs_ = {
        {"chr1", RandomDna(rng, 400)}, {"7", RandomDna(rng, 150)}, {"short", RandomDna(rng, 30)}};
  }
  std::string At(const std::string& contig, int64_t pos, int64_t n) const {
    return contigs_.at(contig).substr(static_cast<size_t>(pos - 1), static_cast<size_t>(n));
  }
  TestVariant Snv(const std::string& vcf_chrom, const std::string& contig, int64_t pos,
                  int n_alts = 1) const {
    TestVariant v{vcf_chrom, contig, pos, At(contig, pos, 1), {}};
    for (int k = 0; k < n_alts; ++k) v.alts.push_back(std::string(1, OtherBase(v.ref[0], k)));
    return v;
  }
  TestVariant Del(const std::string& contig, int64_t pos, int64_t ref_bases) const {
    return TestVariant{contig, contig, pos, At(contig, pos, ref_bases), {At(contig, pos, 1)}};
  }
  TestVariant Ins(const std::string& contig, int64_t pos, const std::string& inserted) const {
    return TestVariant{contig, contig, pos, At(contig, pos, 1), {At(contig, pos, 1) + inserted}};
  }
  std::vector<TestVariant> ExactnessSet() const {
    std::vector<TestVariant> vs;
    vs.push_back(Snv("1", "chr1", 200, 2));  // multi-allelic SNV; "1" -> "chr1"
    vs.push_back(Snv("1", "chr1", 200, 3));  // split record at the same place
    vs.back().alts.erase(vs.back().alts.begin(), vs.back().alts.begin() + 2);
    TestVariant mnv{"chr1", "chr1", 120, At("chr1", 120, 3), {}};
    mnv.alts.push_back({OtherBase(mnv.ref[0], 0), OtherBase(mnv.ref[1], 1), mnv.ref[2]});
    vs.push_back(mnv);
    vs.push_back(Ins("chr1", 250, "ACGTA"));               // insertion
    vs.push_back(Del("chr1", 300, 6));                     // deletion
    vs.push_back(Snv("chr1", "chr1", 2));                  // left contig end
    vs.push_back(Del("chr1", 1, 4));                       // deletion at the left end
    vs.push_back(Snv("chr1", "chr1", 399));                // right contig end
    vs.push_back(Del("chr1", 395, 6));                     // deletion to the last base
    vs.push_back(Ins("chr1", 150, std::string(30, 'G')));  // ALT longer than the left flank
    vs.push_back(Snv("chr7", "7", 75));                    // "chr7" -> "7"
    vs.push_back(Snv("short", "short", 15));               // contig shorter than the window
    vs.push_back(Del("short", 20, 3));
    return vs;
  }

  // Runs score-variants and checks every scored allele against two predict runs.
  void CheckExact(bool both_strands, bool bgzipped_reference, bool shared_prefix = true) {
    TempDir dir("score-variants");
    const auto vs = ExactnessSet();
    std::filesystem::path reference = dir / "ref.fa";
    if (bgzipped_reference) {
      reference = dir / "ref.fa.gz";
      WriteBgzf(reference, Fasta(contigs_));
    } else {
      dir.Write("ref.fa", Fasta(contigs_));
    }
    const auto vcf = dir.Write("in.vcf", Vcf(vs));
    const auto tsv = dir / "out.tsv";
    std::vector<std::string> args = {"score-variants",
                                     "--vcf",
                                     vcf.string(),
                                     "--reference",
                                     reference.string(),
                                     "--output",
                                     tsv.string(),
                                     "--window",
                                     std::to_string(kWindow),
                                     "--threads",
                                     "2",
                                     "--batch",
                                     "3"};
    if (both_strands) args.push_back("--both-strands");
    if (!shared_prefix) args.push_back("--no-shared-prefix");
    auto r = RunEvo2(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("variants/s"), std::string::npos) << r.err;  // the progress summary
    // Which path scored the windows: with shared prefixes, the centred ref/alt windows (their
    // left flanks are ~20 bases, above the 16-token minimum) continue from one prefix forward.
    if (shared_prefix) {
      EXPECT_EQ(r.err.find(" 0 continued from a shared prefix"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("continued from a shared prefix"), std::string::npos) << r.err;
    } else {
      EXPECT_NE(r.err.find(" 0 continued from a shared prefix"), std::string::npos) << r.err;
    }

    std::map<std::string, std::string> windows;
    std::vector<CutWindows> cuts;
    for (size_t i = 0; i < vs.size(); ++i) {
      cuts.push_back(Cut(contigs_.at(vs[i].contig), vs[i], kWindow));
      windows[absl::StrCat("v", i, "_ref")] = cuts.back().ref;
      for (size_t j = 0; j < cuts.back().alts.size(); ++j) {
        ASSERT_EQ(cuts.back().alts[j].size(), cuts.back().ref.size());
        windows[absl::StrCat("v", i, "_alt", j)] = cuts.back().alts[j];
      }
    }
    if (both_strands) {
      std::map<std::string, std::string> with_rc = windows;
      for (const auto& [name, seq] : windows) with_rc[name + "_rc"] = RevComp(seq);
      windows = std::move(with_rc);
    }
    const auto sums = PredictSums(dir, windows);
    auto score = [&](const std::string& name) {
      return both_strands ? (sums.at(name) + sums.at(name + "_rc")) / 2 : sums.at(name);
    };

    const auto rows = ReadTsv(tsv);
    size_t row = 0;
    for (size_t i = 0; i < vs.size(); ++i) {
      for (size_t j = 0; j < vs[i].alts.size(); ++j, ++row) {
        ASSERT_LT(row, rows.size());
        const auto& f = rows[row];
        SCOPED_TRACE(absl::StrCat("variant v", i, " ", vs[i].vcf_chrom, ":", vs[i].pos, " ",
                                  vs[i].ref, ">", vs[i].alts[j]));
        ASSERT_EQ(f[5], "ok");
        EXPECT_EQ(std::stoll(f[9]), cuts[i].start + 1);
        EXPECT_EQ(std::stoll(f[10]), cuts[i].length);
        const double expected =
            score(absl::StrCat("v", i, "_alt", j)) - score(absl::StrCat("v", i, "_ref"));
        const double delta = std::stod(f[6]);
        ASSERT_TRUE(std::isfinite(delta));
        // Both sides sum fp32 per-token log-probs in double, in the same order: without shared
        // prefixes those of the same CPU forward; with them each log-prob differs from it by
        // GEMM rounding (~5e-6, docs/variant-scoring.md §5), which over these 40-base windows
        // stays inside 1e-5, the bound the scoring contract states for CPU fp32.
        EXPECT_NEAR(delta, expected, 1e-5);
        EXPECT_NEAR(std::stod(f[7]), score(absl::StrCat("v", i, "_ref")), 1e-5);
      }
    }
    EXPECT_EQ(row, rows.size());
  }

  std::map<std::string, std::string> contigs_;
};

TEST_F(ScoreVariantsTest, DeltasEqualPredictOnCutWindowsForwardStrand) { CheckExact(false, false); }

TEST_F(ScoreVariantsTest, DeltasEqualPredictOnCutWindowsBothStrandsBgzippedReference) {
  CheckExact(true, true);
}

// The full-forward path (--no-shared-prefix), the reference for the default one, against the
// same cut windows on both strands.
TEST_F(ScoreVariantsTest, DeltasEqualPredictWithoutSharedPrefixBothStrands) {
  CheckExact(true, false, false);
}

TEST_F(ScoreVariantsTest, WindowsMoveAtContigEndsAndSayWhy) {
  // The rule's edge cases themselves (not only that the engine agrees with this test's copy).
  TestVariant left = Snv("chr1", "chr1", 2);
  CutWindows c = Cut(contigs_.at("chr1"), left, kWindow);
  EXPECT_EQ(c.start, 0);
  TestVariant del_end = Del("chr1", 395, 6);  // deletes bases 396..400, the contig's last
  c = Cut(contigs_.at("chr1"), del_end, kWindow);
  EXPECT_EQ(c.start + c.length, 400);  // the ref window ends at the contig's end
  // The alt window has no reference bases left after the deletion: it starts 5 bases earlier.
  EXPECT_EQ(c.alts[0],
            contigs_.at("chr1").substr(394 - (kWindow - 1), kWindow - 1) + del_end.alts[0]);
  TempDir dir("score-variants-edge");
  dir.Write("ref.fa", Fasta(contigs_));
  const auto vcf = dir.Write("in.vcf", Vcf({left, Snv("chr1", "chr1", 200), del_end}));
  const auto out = dir / "out.vcf";
  auto r =
      RunEvo2({"score-variants", "--vcf", vcf.string(), "--reference", (dir / "ref.fa").string(),
               "--output", out.string(), "--window", std::to_string(kWindow), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  for (auto& l : absl::StrSplit(testing::ReadFileBytes(out), '\n')) {
    if (!l.empty() && l[0] != '#') lines.emplace_back(l);
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("EVO2_EDGE"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1].find("EVO2_EDGE"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("EVO2_EDGE"), std::string::npos) << lines[2];
  EXPECT_NE(lines[1].find("EVO2_WINDOW=181,40"), std::string::npos) << lines[1];
}

// Each record that cannot be scored keeps its line, with a FILTER and a per-ALT status.
TEST_F(ScoreVariantsTest, BadRecordsCarryTheirReason) {
  TempDir dir("score-variants-bad");
  dir.Write("ref.fa", Fasta(contigs_));
  const std::string ref100 = At("chr1", 100, 1);
  std::string body;
  auto add = [&](const std::string& chrom, int64_t pos, const std::string& ref,
                 const std::string& alt) {
    absl::StrAppend(&body, chrom, "\t", pos, "\t.\t", ref, "\t", alt, "\t.\tPASS\t.\n");
  };
  add("chr1", 100, ref100, OtherBase(ref100[0], 1) + std::string(",<DEL>"));  // one ok, one not
  add("chr1", 101, At("chr1", 101, 1), "<DEL>");
  add("chr1", 102, At("chr1", 102, 1), At("chr1", 102, 1) + "[chr7:10[");
  add("chr1", 103, At("chr1", 103, 1), "*");
  add("chr1", 104, At("chr1", 104, 1), "R");
  add("chr1", 90, std::string(1, OtherBase(At("chr1", 90, 1)[0], 0)), "A,C");  // unsorted, bad REF
  add("chr1", 105, std::string(1, OtherBase(At("chr1", 105, 1)[0], 0)) + "AAAA", "A");
  add("chrUn", 5, "A", "C");
  add("chr1", 398, At("chr1", 398, 3) + "A", "A");  // REF past the contig end
  add("chr1", 50, At("chr1", 50, 1), ".");
  add("chr1", 60, At("chr1", 60, 1), std::string(41, 'A'));  // longer than the window
  const auto vcf = dir.Write("in.vcf",
                             "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
                             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" +
                                 body);
  const auto out = dir / "out.vcf";
  const auto tsv = dir / "out.tsv";
  auto r = RunEvo2({"score-variants", "--vcf", vcf.string(), "--reference",
                    (dir / "ref.fa").string(), "--output", out.string(), "--tsv", tsv.string(),
                    "--window", std::to_string(kWindow), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::vector<std::string>> records;
  for (auto& l : absl::StrSplit(testing::ReadFileBytes(out), '\n')) {
    if (!l.empty() && l[0] != '#') records.push_back(absl::StrSplit(l, '\t'));
  }
  ASSERT_EQ(records.size(), 11u);
  const std::pair<std::string, std::string> expected[] = {
      {"PASS", "EVO2_STATUS=ok,EVO2_SYMBOLIC"},
      {"EVO2_SYMBOLIC", "EVO2_STATUS=EVO2_SYMBOLIC"},
      {"EVO2_BREAKEND", "EVO2_STATUS=EVO2_BREAKEND"},
      {"EVO2_NO_ALT", "EVO2_STATUS=EVO2_NO_ALT"},
      {"EVO2_BAD_BASES", "EVO2_STATUS=EVO2_BAD_BASES"},
      {"EVO2_REF_MISMATCH", "EVO2_UNSORTED"},
      {"EVO2_REF_MISMATCH", "EVO2_STATUS=EVO2_REF_MISMATCH"},
      {"EVO2_NO_CONTIG", "EVO2_STATUS=EVO2_NO_CONTIG"},
      {"EVO2_OUT_OF_RANGE", "EVO2_STATUS=EVO2_OUT_OF_RANGE"},
      {"EVO2_NO_ALT", ""},
      {"EVO2_TOO_LONG", "EVO2_STATUS=EVO2_TOO_LONG"},
  };
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(absl::StrJoin(records[i], " "));
    ASSERT_GE(records[i].size(), 8u);
    EXPECT_EQ(records[i][6], expected[i].first);
    EXPECT_NE(records[i][7].find(expected[i].second), std::string::npos);
  }
  EXPECT_NE(records[0][7].find("EVO2_DELTA="), std::string::npos);
  const auto rows = ReadTsv(tsv);
  ASSERT_EQ(rows.size(), 13u);  // one row per ALT; ALT "." gets one row
  EXPECT_EQ(rows[0][5], "ok");
  EXPECT_EQ(rows[1][5], "EVO2_SYMBOLIC");
  EXPECT_EQ(rows[1][6], ".");
}

// Whole-input problems: one error line naming the file, exit 1, no output left behind.
TEST_F(ScoreVariantsTest, UnreadableInputsAreOneClearError) {
  TempDir dir("score-variants-err");
  dir.Write("ref.fa", Fasta(contigs_));
  const auto out = dir / "out.vcf.gz";
  struct Case {
    std::string vcf_text;
    std::string reference;
    std::string expect;
  } cases[] = {
      {"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
       "chr1\t5\t.\tA\tC\t.\t.\t.\tGT\t0/1\nchr1\t6\t.\tA\tC\t.\t.\t.\tGT:DP\t0/1:x:y\n",
       "ref.fa", "record 2 cannot be parsed"},
      {"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
       "chr1\t5\t.\tA\tC\t.\t.\t.\n",
       "ref.fa", "record 1 has 0 sample columns, the header names 1"},
      {"not a vcf\n", "ref.fa", "in.vcf"},
      {"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", "missing.fa",
       "missing.fa"},
  };
  for (const Case& c : cases) {
    std::filesystem::remove(out);
    const auto vcf = dir.Write("in.vcf", c.vcf_text);
    auto r = RunEvo2({"score-variants", "--vcf", vcf.string(), "--reference",
                      (dir / c.reference).string(), "--output", out.string(), "--window", "40"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("evo2 score-variants: error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(dir / "out.vcf.gz.partial"));
  }
}

}  // namespace
}  // namespace evo2
