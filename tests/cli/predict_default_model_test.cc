// `evo2 predict` without --ckpt-dir scores with the demo model shipped in models/evo2-demo
// (docs/demo-model.md); a wrong $EVO2_DEFAULT_MODEL is a clear error, not a silent fallback.
#include <cmath>
#include <cstdlib>

#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::RunEvo2;
using testing::TempDir;

TEST(PredictDefaultModel, ScoresWithShippedDemoModel) {
  const auto demo = testing::SourceDir() / "models" / "evo2-demo" / "model.pt";
  if (!std::filesystem::exists(demo)) GTEST_SKIP() << "demo model not in this tree: " << demo;
  TempDir scratch("default-model");
  // A 120-base stretch of E. coli-like coding sequence and its reverse; any real DNA will do:
  // the check is that the shipped model loads and scores, not a particular value.
  const auto fasta = scratch.Write(
      "in.fa",
      ">fwd\nATGAAACGCATTAGCACCACCATTACCACCACCATCACCATTACCACAGGTAACGGTGCGGGCTGA\n"
      ">rev\nTCAGCCCGCACCGTTACCTGTGGTAATGGTGATGGTGGTGGTAATGGTGGTGCTAATGCGTTTCAT\n");
  const auto out = scratch.path() / "out";
  auto r = RunEvo2({"predict", "--fasta", fasta.string(), "--output-dir", out.string(),
                    "--output-log-prob-seqs", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto tensors = ReadTorchPt(out / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ((*tensors)[0].first, "log_probs_seqs");
  auto values = (*tensors)[0].second.ToFloat32();
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 2u);
  for (float v : *values) {
    EXPECT_TRUE(std::isfinite(v));
    // Mean next-token log-prob of DNA under a trained DNA model lies well inside
    // (-ln 512, 0); a model that failed to load its weights would sit near -ln 512 = -6.2.
    EXPECT_GT(v, -3.0f);
    EXPECT_LT(v, 0.0f);
  }
}

TEST(PredictDefaultModel, WrongOverrideIsAClearError) {
  TempDir scratch("default-model-missing");
  const auto fasta = scratch.Write("in.fa", ">r\nACGTACGT\n");
  ::setenv("EVO2_DEFAULT_MODEL", "/nonexistent/evo2-model", 1);
  auto r = RunEvo2({"predict", "--fasta", fasta.string(), "--output-dir",
                    (scratch.path() / "out").string()});
  ::unsetenv("EVO2_DEFAULT_MODEL");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/evo2-model"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(scratch.path() / "out" / "seq_idx_map.json"));
}

}  // namespace
}  // namespace evo2
