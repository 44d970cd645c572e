// Variant scoring on the cuda backend (evo2/variant_scoring.h, what `evo2 score-variants
// --device cuda` runs): the shared-prefix path (docs/variant-scoring.md §5: Prefill, Extend,
// Select, Extend per window) against full forwards per window (`--no-shared-prefix`), on the
// golden checkpoints a_tiny6 (6 blocks) and c_7blike32 (32 blocks in the 7B's block order), both
// strands, SNVs, an MNV, an insertion, a deletion and a multi-allelic record on a random
// 1 000-base contig, 300-base windows.
//
// Tolerances, and why (per delta, ref and alt log-likelihood; each a sum over ~300 log-probs):
//   fp32: 2e-3. The two paths differ per log-prob by fp32 summation order (GEMMs over other row
//     counts, the hcl gate started from the fp32 modal state), ≲ 1e-5 here; summed over a window
//     with random signs that stays far below 2e-3, which still fails any wrong row or state.
//   bf16: 0.5. Per log-prob the bf16 Extend differs from the bf16 forward as the decode does
//     (logits rel-L2 ≤ 1e-2, cuda_extend_golden_test.cc), ≈ 1e-2 per log-prob at worst; summed
//     over 300 positions with random signs ≈ 0.2. An error in the state (a wrong halo row or
//     modal state) moves a window's sum by whole nats, well above it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cuda_golden_support.h"
#include "evo2/cuda_backend.h"
#include "evo2/model.h"
#include "evo2/variant_scoring.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

constexpr int64_t kWindow = 300;

// TSV rows: [chrom, pos, id, ref, alt, status, delta, ref_ll, alt_ll, ...]
std::vector<std::vector<std::string>> ReadTsv(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  std::getline(in, line);  // header
  while (std::getline(in, line)) rows.push_back(absl::StrSplit(line, '\t'));
  return rows;
}

class CudaSharedPrefixScoringTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = testing::GoldenCaseDirFromEnv(GetParam());
    if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
    checkpoint_ = *dir / "model.pt";
    RegisterCudaBackend();
    std::mt19937 rng(29);
    contig_.resize(1000);
    for (char& c : contig_) c = "ACGT"[rng() % 4];
    std::string fasta = ">chr1\n";
    for (size_t i = 0; i < contig_.size(); i += 60)
      absl::StrAppend(&fasta, contig_.substr(i, 60), "\n");
    reference_ = dir_.Write("ref.fa", fasta);
    auto base = [&](int64_t pos) { return std::string(1, contig_[static_cast<size_t>(pos - 1)]); };
    auto other = [&](int64_t pos, int k) {
      std::string alts;
      for (char b : std::string("ACGT"))
        if (b != contig_[static_cast<size_t>(pos - 1)]) alts += b;
      return std::string(1, alts[static_cast<size_t>(k)]);
    };
    std::string vcf =
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
    auto add = [&](int64_t pos, const std::string& ref, const std::string& alt) {
      absl::StrAppend(&vcf, "chr1\t", pos, "\t.\t", ref, "\t", alt, "\t.\tPASS\t.\n");
    };
    add(300, base(300), other(300, 0));                                    // SNV
    add(420, base(420), absl::StrCat(other(420, 0), ",", other(420, 1)));  // multi-allelic
    add(500, contig_.substr(499, 2), other(500, 0) + other(501, 1));       // MNV
    add(610, base(610), base(610) + "GATTACA");                            // insertion
    add(700, contig_.substr(699, 5), base(700));                           // deletion
    vcf_ = dir_.Write("in.vcf", vcf);
  }

  // Scores the VCF on a fresh model; the TSV rows.
  std::vector<std::vector<std::string>> Score(Precision precision, bool shared_prefix,
                                              VariantScoringSummary* summary) {
    LoadOptions lo;
    lo.checkpoint = checkpoint_;
    lo.device = Device::kCuda;
    lo.precision = precision;
    auto model = LoadModel(lo);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return {};
    VariantScoringOptions o;
    o.vcf = vcf_;
    o.reference = reference_;
    o.output = dir_ / absl::StrCat("out_", static_cast<int>(precision), shared_prefix, ".tsv");
    o.format = VariantOutputFormat::kTsv;
    o.window_bases = kWindow;
    o.both_strands = true;
    o.batch_windows = 4;
    o.shared_prefix = shared_prefix;
    auto s = ScoreVariants(**model, o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return {};
    *summary = *s;
    return ReadTsv(o.output);
  }

  void Check(Precision precision, double tol) {
    VariantScoringSummary shared_summary, full_summary;
    const auto shared = Score(precision, true, &shared_summary);
    const auto full = Score(precision, false, &full_summary);
    ASSERT_EQ(shared.size(), 6u);
    ASSERT_EQ(full.size(), shared.size());
    // The shared path ran: centred ref/alt windows share their left flank (forward strand).
    EXPECT_GT(shared_summary.windows_from_shared_prefix, 0);
    EXPECT_EQ(full_summary.windows_from_shared_prefix, 0);
    double worst = 0;
    for (size_t r = 0; r < shared.size(); ++r) {
      ASSERT_EQ(shared[r].size(), full[r].size());
      ASSERT_EQ(shared[r][5], "ok") << "row " << r;
      ASSERT_EQ(full[r][5], "ok") << "row " << r;
      for (size_t col : {6u, 7u, 8u}) {  // delta, ref_ll, alt_ll
        const double a = std::stod(shared[r][col]), b = std::stod(full[r][col]);
        ASSERT_TRUE(std::isfinite(a) && std::isfinite(b)) << "row " << r << " col " << col;
        EXPECT_NEAR(a, b, tol) << "row " << r << " col " << col;
        worst = std::max(worst, std::abs(a - b));
      }
    }
    std::printf(
        "[%s] %s score-variants (%lld-base windows, both strands) shared-prefix "
        "vs full windows: max |Δ| of delta/ref_ll/alt_ll %.2e (%lld of %lld window strands "
        "from a shared prefix)\n",
        precision == Precision::kFp32 ? "fp32" : "bf16", GetParam().c_str(),
        static_cast<long long>(kWindow), worst,
        static_cast<long long>(shared_summary.windows_from_shared_prefix),
        static_cast<long long>(shared_summary.windows_scored));
  }

  testing::TempDir dir_{"cuda-shared-prefix"};
  std::filesystem::path checkpoint_, reference_, vcf_;
  std::string contig_;
};

TEST_P(CudaSharedPrefixScoringTest, Fp32SharedPrefixEqualsFullWindows) {
  Check(Precision::kFp32, 2e-3);
}

TEST_P(CudaSharedPrefixScoringTest, Bf16SharedPrefixEqualsFullWindows) {
  Check(Precision::kBf16, 0.5);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaSharedPrefixScoringTest,
                         ::testing::Values("a_tiny6", "c_7blike32"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace evo2
