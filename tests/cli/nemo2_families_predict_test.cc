// `evo2 predict --ckpt-dir NEMO2_DIR` for the Mamba-2 hybrid and Llama/Eden families
// (docs/spec/checkpoints.md §13): each HF golden case written as a TP=2 NeMo2 checkpoint
// (support/nemo2_family_writer.h) must score the records exactly as the HF directory does
// (the same per-sequence log-probs, bit for bit) and match summary.json's fp32 means; and
// `--model-size` must pick the architecture of a NeMo2 directory without context/ and be checked
// against one with it, each refusal a one-line error naming the field or the key.
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "run_evo2.h"
#include "support/golden_paths.h"
#include "support/nemo2_family_writer.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::RunEvo2;
using testing::TempDir;

// Each golden log-prob is matched to 1e-4 by the HF golden tests, so their means are too; the
// .pt stores the mean in fp32 (|mean| ≈ 10, ulp ≈ 1e-6), well inside.
constexpr double kMeanTol = 1e-4;

// The short records of the case's input.fa (1, 17 and 500 bases): enough to exercise every
// layer, quick on the CPU.
void WriteShortRecords(const fs::path& input, const fs::path& out) {
  const std::set<std::string> keep = {"len00001", "len00017", "len00500"};
  std::ifstream in(input);
  std::ofstream o(out);
  bool copying = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '>')
      copying = keep.count(line.substr(1, line.find(' ') - 1)) != 0;
    if (copying) o << line << "\n";
  }
}

struct Scores {
  std::vector<float> means;
  std::vector<int64_t> seq_idx;
};

Scores ReadScores(const fs::path& out_dir) {
  Scores s;
  auto pt = ReadTorchPt(out_dir / "predictions__rank_0__dp_rank_0.pt");
  EXPECT_TRUE(pt.ok()) << pt.status();
  if (!pt.ok()) return s;
  std::map<std::string, Tensor> by_key(pt->begin(), pt->end());
  if (by_key.count("log_probs_seqs") == 0 || by_key.count("seq_idx") == 0) {
    ADD_FAILURE() << "no log_probs_seqs / seq_idx in " << out_dir;
    return s;
  }
  s.means = *by_key["log_probs_seqs"].ToFloat32();
  s.seq_idx = *by_key["seq_idx"].ToInt64();
  return s;
}

class Nemo2FamilyPredict : public ::testing::TestWithParam<std::string> {};

TEST_P(Nemo2FamilyPredict, ScoresLikeTheHfCheckpoint) {
  const auto hf_dir = testing::GoldenCaseDir(GetParam());
  if (!hf_dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
  TempDir tmp("nemo2fam_cli");
  const fs::path nemo2 = tmp.path() / "nemo2";
  testing::Nemo2FamilyWriteOptions write;
  write.tp = 2;
  ASSERT_TRUE(testing::WriteNemo2FromHf(*hf_dir, nemo2, write).ok());
  const fs::path fasta = tmp.path() / "short.fa";
  WriteShortRecords(*hf_dir / "input.fa", fasta);

  auto predict = [&](const fs::path& ckpt, const std::string& out) {
    return RunEvo2({"predict", "--fasta", fasta.string(), "--ckpt-dir", ckpt.string(),
                    "--output-dir", (tmp.path() / out).string(), "--output-log-prob-seqs",
                    "--keep-case", "--quiet"});
  };
  const auto from_nemo2 = predict(nemo2, "out_nemo2");
  ASSERT_EQ(from_nemo2.exit_code, 0) << from_nemo2.err;
  const auto from_hf = predict(*hf_dir, "out_hf");
  ASSERT_EQ(from_hf.exit_code, 0) << from_hf.err;

  const Scores got = ReadScores(tmp.path() / "out_nemo2");
  const Scores want = ReadScores(tmp.path() / "out_hf");
  ASSERT_EQ(got.means.size(), 3u);
  EXPECT_EQ(got.seq_idx, want.seq_idx);
  EXPECT_EQ(got.means, want.means) << "the NeMo2 checkpoint scores differently from the HF one";

  std::ifstream map_in(tmp.path() / "out_nemo2" / "seq_idx_map.json");
  const json seq_map = json::parse(map_in, nullptr, false);
  std::ifstream summary_in(*hf_dir / "summary.json");
  const json summary = json::parse(summary_in, nullptr, false);
  ASSERT_TRUE(seq_map.is_object() && summary.is_object());
  for (const auto& [name, i] : seq_map.items()) {
    for (size_t k = 0; k < got.seq_idx.size(); ++k) {
      if (got.seq_idx[k] != i.get<int64_t>()) continue;
      EXPECT_NEAR(got.means[k], summary["records"][name]["fp32"]["logprob_mean"].get<double>(),
                  kMeanTol)
          << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Nemo2FamilyPredict,
                         ::testing::Values("m_hybrid_a", "l_eden_a", "m_hybrid_b", "l_eden_b"));

// A predict run that must fail with one error line mentioning every word.
void ExpectPredictError(const fs::path& ckpt, const std::string& model_size,
                        const std::vector<std::string>& words) {
  TempDir tmp("nemo2fam_cli_err");
  const fs::path fasta = tmp.path() / "x.fa";
  std::ofstream(fasta) << ">x\nACGT\n";
  const auto r =
      RunEvo2({"predict", "--fasta", fasta.string(), "--ckpt-dir", ckpt.string(), "--output-dir",
               (tmp.path() / "out").string(), "--model-size", model_size, "--quiet"});
  EXPECT_NE(r.exit_code, 0) << "--model-size " << model_size << " on " << ckpt << " succeeded";
  for (const std::string& w : words)
    EXPECT_NE(r.err.find(w), std::string::npos) << "'" << w << "' not in: " << r.err;
}

TEST(Nemo2FamilyPredictModelSize, PicksOrChecksTheArchitecture) {
  for (const std::string case_name : {"l_eden_a", "m_hybrid_a"}) {
    const auto hf_dir = testing::GoldenCaseDir(case_name);
    if (!hf_dir) GTEST_SKIP() << "golden case " << case_name << " not present";
    const std::string preset = case_name == "l_eden_a" ? "7B" : "hybrid_mamba_8b";
    TempDir tmp("nemo2fam_cli_size");
    testing::Nemo2FamilyWriteOptions with_context, without_context;
    without_context.with_context = false;
    ASSERT_TRUE(testing::WriteNemo2FromHf(*hf_dir, tmp.path() / "ctx", with_context).ok());
    ASSERT_TRUE(testing::WriteNemo2FromHf(*hf_dir, tmp.path() / "bare", without_context).ok());
    // With context/: the preset must describe the same model.
    ExpectPredictError(tmp.path() / "ctx", preset,
                       {"--model-size " + preset, "context/model.yaml"});
    // Without it the preset is the architecture, so the tiny weights no longer fit (the 8B
    // presets' hidden size is 4096); the error names the key and both shapes.
    ExpectPredictError(tmp.path() / "bare", preset,
                       {"embedding.word_embeddings.weight", "[512, 128]", "--model-size " + preset,
                        "[512, 4096]"});
  }
}

}  // namespace
}  // namespace evo2
