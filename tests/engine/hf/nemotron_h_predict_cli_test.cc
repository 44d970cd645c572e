// `evo2 predict` end to end on the Mamba-2 hybrid golden cases: `--ckpt-dir <case>
// --output-log-prob-seqs --keep-case` must report, per record, summary.json's fp32
// `logprob_mean` (a float64 mean of the golden log-probs; no --prepend-bos; 0.0 for the 1-token
// record). --keep-case because the golden tokens are the raw bytes (README "Files": no case
// folding) and input.fa has lower-case runs, which predict upper-cases by default like bionemo.
// Runs the real binary of this build tree; skips when it has not been built.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
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

// Each golden log-prob is matched to 1e-4 (nemotron_h_golden_test.cc; measured ≤ 1e-5), so
// their means are too; the .pt stores the mean in fp32 (|mean| ≈ 11, ulp ≈ 1e-6), well inside.
constexpr double kMeanTol = 1e-4;

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

class NemotronHPredictCli : public ::testing::TestWithParam<std::string> {};

TEST_P(NemotronHPredictCli, LogProbMeansMatchSummary) {
  auto dir = testing::GoldenCaseDir(GetParam());
  if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
  const fs::path binary = testing::BinaryDir() / "services" / "cli" / "evo2";
  if (!fs::exists(binary)) GTEST_SKIP() << "evo2 binary not built at " << binary;
  const fs::path out = fs::temp_directory_path() /
                       ("evo2_nemotron_h_cli_" + GetParam() + "_" +
                        std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(out);
  const std::string log_path = out.string() + ".log";
  const std::string cmd = "'" + binary.string() + "' predict --fasta '" +
                          (*dir / "input.fa").string() + "' --ckpt-dir '" + dir->string() +
                          "' --output-dir '" + out.string() +
                          "' --output-log-prob-seqs --keep-case --quiet > '" + log_path +
                          "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(log_path);
  const std::string log_text{std::istreambuf_iterator<char>(log), {}};
  fs::remove(log_path);
  ASSERT_EQ(rc, 0) << cmd << "\n" << log_text;

  auto pt = ReadTorchPt(out / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();
  std::map<std::string, Tensor> by_key(pt->begin(), pt->end());
  ASSERT_TRUE(by_key.count("log_probs_seqs") && by_key.count("seq_idx"));
  const auto means = by_key["log_probs_seqs"].ToFloat32();
  const auto idx = by_key["seq_idx"].ToInt64();
  ASSERT_TRUE(means.ok() && idx.ok());
  const json seq_map = ReadJson(out / "seq_idx_map.json");
  ASSERT_TRUE(seq_map.is_object()) << out / "seq_idx_map.json";
  std::map<int64_t, std::string> name_of;
  for (const auto& [name, i] : seq_map.items()) name_of[i.get<int64_t>()] = name;
  const json summary = ReadJson(*dir / "summary.json");
  ASSERT_TRUE(summary.is_object());
  ASSERT_EQ(means->size(), summary["records"].size()) << "one mean per input.fa record";
  for (size_t k = 0; k < means->size(); ++k) {
    const std::string& name = name_of[(*idx)[k]];
    SCOPED_TRACE(GetParam() + "/" + name);
    ASSERT_TRUE(summary["records"].contains(name));
    const double want = summary["records"][name]["fp32"]["logprob_mean"].get<double>();
    EXPECT_NEAR((*means)[k], want, kMeanTol);
    std::cout << "[predict mean] " << GetParam() << "/" << name << ": "
              << std::setprecision(8) << (*means)[k] << " (summary " << want << ", |diff| "
              << std::abs((*means)[k] - want) << ")\n";
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Cases, NemotronHPredictCli, ::testing::Values("m_hybrid_a", "m_hybrid_b"),
                         [](const auto& case_info) { return case_info.param; });

}  // namespace
}  // namespace evo2
