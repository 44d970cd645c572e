// `evo2 predict` with engine groups on the CPU (ranks as threads, docs/parallelism.md): the
// reference's parallel flags run and write the same files as the single-rank run.
//
// "Same files": identical names, seq_idx_map.json byte for byte, and in each .pt the same keys
// in the same order, dtypes and shapes, integer tensors equal and float values within 1e-5. Not
// byte-identical .pt files: the decompositions reorder fp32 sums, which moves values by a few
// ulps (≤ 6e-6 on the golden cases, tests/engine/parallel/engine_group_golden_test.cc).
#include <cmath>
#include <string>
#include <vector>

#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::ReadFileBytes;
using testing::RunEvo2;
using testing::TempDir;

constexpr double kTol = 1e-5;

class PredictParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::GoldenCaseDir("a_tiny6");
    if (!dir) GTEST_SKIP() << "golden case a_tiny6 not available";
    ckpt_ = (*dir / "model.pt").string();
    // Lengths 1, 2, 17 and 131 (prime; shorter than the CP chunk count, than the hcm halo...).
    const std::string bases =
        "ACGTTGCAAGGCTTAACCGGTATATCGCGAATTCCGGAACTGACTGATCGATCGGATCCAAGCTTGAATTCGGCCATGGAAACC"
        "CGGGTTTAAACCCGGGATATCGATCGATGCATGCAAAATTTTGGGGCCCCACG";
    fasta_ = scratch_.Write("in.fa", ">one\nA\n>two\nAC\n>seventeen\n" + bases.substr(0, 17) +
                                         "\n>prime\n" + bases.substr(0, 131) + "\n");
  }

  // Runs predict with `extra` flags into a fresh directory under the scratch dir.
  std::filesystem::path Predict(const std::string& name, const std::vector<std::string>& extra) {
    const auto out = scratch_.path() / name;
    std::vector<std::string> args = {"predict", "--fasta",      fasta_.string(), "--ckpt-dir",
                                     ckpt_,     "--output-dir", out.string(),    "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = RunEvo2(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  static void ExpectSameFiles(const std::filesystem::path& got, const std::filesystem::path& want) {
    std::vector<std::string> got_names, want_names;
    for (const auto& e : std::filesystem::directory_iterator(got))
      got_names.push_back(e.path().filename().string());
    for (const auto& e : std::filesystem::directory_iterator(want))
      want_names.push_back(e.path().filename().string());
    std::sort(got_names.begin(), got_names.end());
    std::sort(want_names.begin(), want_names.end());
    ASSERT_EQ(got_names, want_names);
    EXPECT_EQ(ReadFileBytes(got / "seq_idx_map.json"), ReadFileBytes(want / "seq_idx_map.json"));
    auto g = ReadTorchPt(got / "predictions__rank_0__dp_rank_0.pt");
    auto w = ReadTorchPt(want / "predictions__rank_0__dp_rank_0.pt");
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(g->size(), w->size());
    for (size_t k = 0; k < w->size(); ++k) {
      const auto& [gk, gt] = (*g)[k];
      const auto& [wk, wt] = (*w)[k];
      EXPECT_EQ(gk, wk);
      EXPECT_EQ(gt.dtype(), wt.dtype()) << wk;
      ASSERT_EQ(gt.shape(), wt.shape()) << wk;
      if (wt.dtype() == DType::kInt64) {
        EXPECT_EQ(*gt.ToInt64(), *wt.ToInt64()) << wk;
        continue;
      }
      const auto gv = *gt.ToFloat32();
      const auto wv = *wt.ToFloat32();
      double worst = 0;
      for (size_t i = 0; i < wv.size(); ++i) {
        ASSERT_TRUE(std::isfinite(gv[i])) << wk << " at " << i;
        worst = std::max(worst, std::abs(double(gv[i]) - double(wv[i])));
      }
      EXPECT_LE(worst, kTol) << wk;
    }
  }

  TempDir scratch_{"predict_parallel"};
  std::string ckpt_;
  std::filesystem::path fasta_;
};

TEST_F(PredictParallel, ContextParallelTwoWritesTheSameFilesAsOneRank) {
  const std::vector<std::string> per_token = {"--output-log-prob-seqs",
                                              "--log-prob-collapse-option", "per_token"};
  const auto one = Predict("cp1", per_token);
  auto cp2_args = per_token;
  cp2_args.insert(cp2_args.end(), {"--context-parallel-size", "2"});
  ExpectSameFiles(Predict("cp2", cp2_args), one);
}

// The reference's headline layout, TP=4 x CP=2 on 8 devices, and TP=2 x CP=2 on 8 devices
// (two data-parallel replicas sharing each micro-batch of 2), in logits mode.
TEST_F(PredictParallel, HeadlineLayoutsInLogitsMode) {
  const auto one = Predict("single", {"--micro-batch-size", "2"});
  ExpectSameFiles(Predict("tp4cp2", {"--micro-batch-size", "2", "--tensor-parallel-size", "4",
                                     "--context-parallel-size", "2", "--devices", "8"}),
                  one);
  ExpectSameFiles(Predict("tp2cp2dp2", {"--micro-batch-size", "2", "--tensor-parallel-size", "2",
                                        "--context-parallel-size", "2", "--devices", "8"}),
                  one);
}

TEST_F(PredictParallel, PrintsDeviceAndGroupLayoutAndNamesTheDemoModel) {
  const auto out = scratch_.path() / "printed";
  auto r = RunEvo2({"predict", "--fasta", fasta_.string(), "--ckpt-dir", ckpt_, "--output-dir",
                    out.string(), "--context-parallel-size", "2", "--output-log-prob-seqs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("evo2 predict: device cpu (auto), cpu-fp32, engine group TP=1 x CP=2 x "
                       "DP=1 (ranks run as threads)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("demo model"), std::string::npos) << r.err;  // --ckpt-dir was given
}

}  // namespace
}  // namespace evo2
