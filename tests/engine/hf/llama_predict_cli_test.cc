// `evo2 predict` end to end on the Llama golden cases (golden/l_eden_a/README.md "Files"):
// `--ckpt-dir <case> --output-log-prob-seqs --keep-case` must report, per record, summary.json's
// fp32 `logprob_mean` (a float64 mean of the golden log-probs; no --prepend-bos; 0.0 for the
// 1-token record). --keep-case because the goldens feed the raw bytes of input.fa (README: "no
// case folding") while predict, like BioNeMo's dataset, upper-cases by default
// (docs/spec/predict-cli.md §2.1); records len00017/00500/02048/08192 contain lower case.
// Runs the real binary of this build tree; skips when it has not been built.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/golden_paths.h"

namespace evo2 {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Each golden log-prob is matched to 1e-4 (llama_golden_test.cc), so their means are too; the
// .pt stores the mean in fp32 (|mean| ≈ 10, ulp ≈ 1e-6), well inside.
constexpr double kMeanTol = 1e-4;

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

class LlamaPredictCli : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaPredictCli, LogProbMeansMatchSummary) {
  auto dir = testing::GoldenCaseDir(GetParam());
  if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
  if (!fs::exists(*dir / "summary.json")) GTEST_SKIP() << "no summary.json in " << *dir;
  const fs::path binary = testing::BinaryDir() / "services" / "cli" / "evo2";
  if (!fs::exists(binary)) GTEST_SKIP() << "evo2 binary not built at " << binary;
  const fs::path out = fs::temp_directory_path() /
                       ("evo2_llama_cli_" + GetParam() + "_" +
                        std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(out);
  const std::string cmd =
      "'" + binary.string() + "' predict --fasta '" + (*dir / "input.fa").string() +
      "' --ckpt-dir '" + dir->string() + "' --output-dir '" + out.string() +
      "' --output-log-prob-seqs --keep-case --quiet > '" + out.string() + ".log' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(out.string() + ".log");
  const std::string log_text{std::istreambuf_iterator<char>(log), {}};
  fs::remove(out.string() + ".log");
  ASSERT_EQ(rc, 0) << cmd << "\n" << log_text;

  auto pt = ReadTorchPt(out / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();
  std::map<std::string, Tensor> by_key(pt->begin(), pt->end());
  ASSERT_TRUE(by_key.count("log_probs_seqs") && by_key.count("seq_idx"));
  const auto means = by_key["log_probs_seqs"].ToFloat32();
  const auto idx = by_key["seq_idx"].ToInt64();
  ASSERT_TRUE(means.ok() && idx.ok());
  const json seq_map = ReadJson(out / "seq_idx_map.json");
  const json summary = ReadJson(*dir / "summary.json");
  ASSERT_TRUE(seq_map.is_object() && summary.is_object());
  std::map<int64_t, std::string> name_of;
  for (const auto& [name, i] : seq_map.items()) name_of[i.get<int64_t>()] = name;
  ASSERT_EQ(means->size(), summary["records"].size());
  for (size_t i = 0; i < means->size(); ++i) {
    const std::string& name = name_of[(*idx)[i]];
    ASSERT_TRUE(summary["records"].contains(name)) << name;
    EXPECT_NEAR((*means)[i], summary["records"][name]["fp32"]["logprob_mean"].get<double>(),
                kMeanTol)
        << name;
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Cases, LlamaPredictCli, ::testing::Values("l_eden_a", "l_eden_b"));

}  // namespace
}  // namespace evo2
