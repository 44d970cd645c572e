// Fault test: Ctrl-C (SIGINT) or SIGTERM during `evo2 predict` ends it with status 130 and leaves
// no output files (not even the hidden staging directory).
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

TEST(PredictInterrupt, SignalLeavesNoOutput) {
  auto dir = testing::GoldenCaseDir("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not available";
  testing::TempDir scratch("interrupt");
  // ~400k tokens: minutes of CPU work, far more than the second before the signal.
  std::mt19937 rng(7);
  std::string fasta;
  for (int r = 0; r < 100; ++r) {
    fasta += ">rec" + std::to_string(r) + "\n";
    for (int i = 0; i < 4096; ++i) {
      fasta.push_back("ACGT"[rng() % 4]);
      if (i % 80 == 79) fasta.push_back('\n');
    }
    fasta.push_back('\n');
  }
  const auto input = scratch.Write("big.fa", fasta);
  for (int sig : {SIGINT, SIGTERM}) {
    const auto out = scratch.path() / ("out" + std::to_string(sig));
    testing::Evo2Process p({"predict", "--fasta", input.string(), "--ckpt-dir",
                            (*dir / "model.pt").string(), "--output-dir", out.string(),
                            "--output-log-prob-seqs", "--quiet"});
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_EQ(::kill(p.pid(), sig), 0);
    const auto r = p.Wait();
    EXPECT_EQ(r.exit_code, 130) << r.err;
    EXPECT_NE(r.err.find("evo2 predict: error:"), std::string::npos) << r.err;
    if (std::filesystem::exists(out)) {
      EXPECT_TRUE(std::filesystem::is_empty(out)) << "files left in " << out;
    }
  }
}

}  // namespace
}  // namespace evo2
