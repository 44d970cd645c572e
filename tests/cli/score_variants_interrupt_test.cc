// Fault test: Ctrl-C (SIGINT) or SIGTERM during `evo2 score-variants` ends it with status 130
// and leaves neither the output nor its partial or temporary files.
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

TEST(ScoreVariantsInterrupt, SignalLeavesNoOutput) {
  if (!std::filesystem::exists(testing::SourceDir() / "models" / "evo2-demo" / "model.pt")) {
    GTEST_SKIP() << "demo model not in this tree";
  }
  testing::TempDir scratch("variants-interrupt");
  // 100 SNVs with 4 096-base windows: ~800k tokens, minutes of CPU work.
  std::mt19937 rng(5);
  std::string seq;
  for (int i = 0; i < 200000; ++i) seq.push_back("ACGT"[rng() % 4]);
  std::string fasta = ">c\n";
  for (size_t i = 0; i < seq.size(); i += 80) fasta += seq.substr(i, 80) + "\n";
  std::string vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  for (int v = 0; v < 100; ++v) {
    const size_t p = 5000 + static_cast<size_t>(v) * 1900;
    vcf += "c\t" + std::to_string(p + 1) + "\t.\t" + seq[p] + "\t" + (seq[p] == 'A' ? "C" : "A") +
           "\t.\t.\t.\n";
  }
  const auto ref = scratch.Write("ref.fa", fasta);
  const auto in = scratch.Write("in.vcf", vcf);
  for (int sig : {SIGINT, SIGTERM}) {
    const auto out = scratch.path() / "out.vcf.gz";
    const auto tsv = scratch.path() / "out.tsv";
    testing::Evo2Process p({"score-variants", "--vcf", in.string(), "--reference", ref.string(),
                            "--output", out.string(), "--tsv", tsv.string(), "--window", "4096",
                            "--quiet"});
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_EQ(::kill(p.pid(), sig), 0);
    const auto r = p.Wait();
    EXPECT_EQ(r.exit_code, 130) << r.err;
    EXPECT_NE(r.err.find("evo2 score-variants: error:"), std::string::npos) << r.err;
    for (const auto& entry : std::filesystem::directory_iterator(scratch.path())) {
      const std::string name = entry.path().filename().string();
      EXPECT_TRUE(name == "ref.fa" || name == "ref.fa.fai" || name == "in.vcf")
          << "left behind: " << name;
    }
  }
}

}  // namespace
}  // namespace evo2
