// `evo2 generate` through the real binary: greedy decoding on golden case a_tiny6 equals the
// argmax of the parallel forward over the generated sequence (so the CLI's cached-state decode
// is checked against the engine's forward end to end), sampling is reproducible for a seed and
// independent of --batch, the demo model is the default, and bad arguments give one clear
// error line.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "evo2/model.h"
#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/expect_contains.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::ReadFileBytes;
using testing::RunEvo2;
using testing::TempDir;

// FASTA text -> (name, sequence) in file order.
std::vector<std::pair<std::string, std::string>> ParseFasta(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '>') {
      out.emplace_back(line.substr(1, line.find(' ') - 1), "");
    } else if (!out.empty()) {
      out.back().second += line;
    }
  }
  return out;
}

TEST(GenerateCli, GreedyEqualsArgmaxOfParallelForward) {
  auto dir = testing::GoldenCaseDir("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not available";
  TempDir scratch("generate-greedy");
  const std::string prompt = "ACGTTGCAAGGCTTACGATCGATCGGATACCA";
  const auto lp_path = scratch.path() / "lp.tsv";
  auto r =
      RunEvo2({"generate", "--ckpt-dir", (*dir / "model.pt").string(), "--prompt", prompt,
               "--max-new-tokens", "40", "--temperature", "0", "--log-probs", lp_path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto recs = ParseFasta(r.out);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].first, "prompt");
  const std::string gen = recs[0].second;
  ASSERT_EQ(gen.size(), 40u);

  // The parallel forward over prompt + generated: each generated base must be the ACGT argmax
  // of the logits one position before it, and its log-prob the full-vocabulary log-softmax.
  LoadOptions lo;
  lo.checkpoint = *dir / "model.pt";
  auto model = LoadModel(lo);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string all = prompt + gen;
  std::vector<int32_t> tokens(all.begin(), all.end());
  ForwardOptions fo;
  fo.logits = true;
  auto fwd = (*model)->Forward(tokens, fo);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  std::istringstream lp(ReadFileBytes(lp_path));
  std::string header;
  std::getline(lp, header);
  EXPECT_EQ(header, "name\tindex\ttoken\tlog_prob");
  for (size_t i = 0; i < gen.size(); ++i) {
    const float* row = fwd->logits.data() + (prompt.size() - 1 + i) * 512;
    char best = 'A';
    for (char c : std::string("CGT")) {
      if (row[static_cast<int>(c)] > row[static_cast<int>(best)]) best = c;
    }
    // A near-tie between two bases could flip under decode-vs-forward rounding (~1e-5); with
    // random weights the top two logits are far apart, so require the exact argmax.
    EXPECT_EQ(gen[i], best) << "generated base " << i;
    std::string name, idx, tok, value;
    ASSERT_TRUE(std::getline(lp, name, '\t') && std::getline(lp, idx, '\t') &&
                std::getline(lp, tok, '\t') && std::getline(lp, value));
    EXPECT_EQ(name, "prompt");
    EXPECT_EQ(idx, std::to_string(i));
    EXPECT_EQ(tok, std::string(1, gen[i]));
    double mx = row[0], sum = 0;
    for (int j = 0; j < 512; ++j) mx = std::max<double>(mx, row[j]);
    for (int j = 0; j < 512; ++j) sum += std::exp(row[j] - mx);
    const double want = row[static_cast<int>(gen[i])] - mx - std::log(sum);
    // 1e-4: the fp32 golden bound; the TSV prints 6 significant digits (≤ 5e-5 for |lp| < 10).
    EXPECT_NEAR(std::stod(value), want, 1e-4) << "log-prob of base " << i;
  }
}

class GenerateDemo : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto demo = testing::SourceDir() / "models" / "evo2-demo" / "model.pt";
    if (!std::filesystem::exists(demo)) GTEST_SKIP() << "demo model not in this tree";
    prompts_ = scratch_.Write("prompts.fa",
                              ">p1\nATGAAACGCATTAGCACCACCATTACCACC\n>p2\nTCAGCCCGCACCGTTACC\n");
  }
  testing::RunResult Run(const std::vector<std::string>& extra) {
    // One thread: CI's two cores run other tests beside this one.
    std::vector<std::string> args = {
        "generate", "--prompt-fasta", prompts_.string(), "--max-new-tokens", "20", "--threads",
        "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunEvo2(args);
  }
  TempDir scratch_{"generate-demo"};
  std::filesystem::path prompts_;
};

TEST_F(GenerateDemo, SameSeedSameOutputAndDefaultModelIsNamed) {
  auto a = Run({"--seed", "7", "--num-samples", "2", "--top-k", "3", "--top-p", "0.95"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EVO2_EXPECT_CONTAINS(a.err, "using the demo model");
  const auto recs = ParseFasta(a.out);
  ASSERT_EQ(recs.size(), 4u);
  const char* names[] = {"p1_sample0", "p1_sample1", "p2_sample0", "p2_sample1"};
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].first, names[i]);
    EXPECT_EQ(recs[i].second.size(), 20u);
    EXPECT_EQ(recs[i].second.find_first_not_of("ACGT"), std::string::npos) << recs[i].second;
  }
  EXPECT_NE(recs[0].second, recs[1].second) << "samples of one prompt draw independently";
  auto again = Run({"--seed", "7", "--num-samples", "2", "--top-k", "3", "--top-p", "0.95"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, a.out);
  auto other = Run({"--seed", "8", "--num-samples", "2", "--top-k", "3", "--top-p", "0.95"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.out, a.out);
  // Each sequence has its own random stream and its own state, so decoding them together
  // (--batch 3: groups mixing both prompts) gives the same sequences as one at a time.
  auto batched =
      Run({"--seed", "7", "--num-samples", "2", "--top-k", "3", "--top-p", "0.95", "--batch", "3"});
  ASSERT_EQ(batched.exit_code, 0) << batched.err;
  EXPECT_EQ(batched.out, a.out);
}

TEST_F(GenerateDemo, OutputFileAndAlphabet) {
  const auto out = scratch_.path() / "gen.fa";
  auto r = Run({"--output", out.string(), "--alphabet", "AT", "--seed", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const auto recs = ParseFasta(ReadFileBytes(out));
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& [name, seq] : recs) {
    EXPECT_EQ(seq.size(), 20u);
    EXPECT_EQ(seq.find_first_not_of("AT"), std::string::npos) << seq;
  }
}

TEST_F(GenerateDemo, BadArgumentsGiveOneClearLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--top-p", "0"}, "top-p must be in (0, 1]"},
      {{"--top-p", "1.5"}, "top-p must be in (0, 1]"},
      {{"--temperature", "-1"}, "temperature must be a finite number >= 0"},
      {{"--top-k", "-2"}, "top-k must be >= 0"},
      {{"--alphabet", "AC>"}, "sampling alphabet"},
      {{"--alphabet", "AA"}, "repeats 'A'"},
      {{"--prompt", "ACGT"}, "excludes"},
      {{"--max-new-tokens", "0"}, "--max-new-tokens"},
      {{"--batch", "0"}, "--batch"},
      {{"--output", "/nonexistent-dir/x.fa"}, "does not exist"},
      {{"--precision", "fp64"}, "unknown precision 'fp64'"},
      {{"--device", "tpu"}, "tpu"},
  };
  for (const auto& [extra, message] : cases) {
    auto r = Run(extra);
    EXPECT_EQ(r.exit_code != 0, true) << extra[0];
    EVO2_EXPECT_CONTAINS(r.err, message);
  }
  auto none = RunEvo2({"generate", "--max-new-tokens", "3"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err, "evo2 generate: error: give exactly one of --prompt and --prompt-fasta\n");
  auto space = RunEvo2({"generate", "--prompt", "AC GT"});
  EXPECT_EQ(space.exit_code, 1);
  EVO2_EXPECT_CONTAINS(space.err, "column 3");
  auto missing = RunEvo2({"generate", "--prompt-fasta", "/nonexistent/p.fa"});
  EXPECT_EQ(missing.exit_code, 1);
  EVO2_EXPECT_CONTAINS(missing.err, "/nonexistent/p.fa");
}

}  // namespace
}  // namespace evo2
