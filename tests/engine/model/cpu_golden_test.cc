// The CPU fp32 backend against the golden vectors (docs/spec/golden.md): cases a, b, c, every
// record, both Forward and ForwardBatch.
//
// Tolerances (docs/spec/golden.md §2): an independent float64
// implementation agrees with the fp32 golden to ≤ 1.5e-5 on logits (|logit| up to ~16),
// ≤ 1.2e-5 on log-probs and ≤ 5e-6 on hidden states; an fp32 engine lands in the same range,
// so 1e-4 max-abs (the project's bound) leaves a ~7x margin while still catching any
// orientation / ordering mistake (those give O(1) errors).
#include <iostream>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cpu/cpu_model.h"
#include "cpu/cpu_weights.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/npy.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using evo2::testing::GoldenCaseDir;
using evo2::testing::MaxAbsDiff;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;

constexpr double kTol = 1e-4;
const char* const kRecords[] = {"len00001", "len00017", "len00500", "len02048", "len08192"};

// One loaded model per case, shared by the tests of that case.
Model* CaseModel(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Model>> models;
  auto it = models.find(name);
  if (it != models.end()) return it->second.get();
  auto dir = GoldenCaseDir(name);
  if (!dir) return nullptr;
  LoadOptions opts;
  opts.checkpoint = *dir / "model.pt";
  auto m = LoadModel(opts);
  EXPECT_TRUE(m.ok()) << name << ": " << m.status();
  if (!m.ok()) return nullptr;
  return (models[name] = std::move(*m)).get();
}

class CpuGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = GoldenCaseDir(GetParam()).value_or("");
    if (dir_.empty()) GTEST_SKIP() << "golden case " << GetParam() << " not present";
    model_ = CaseModel(GetParam());
    ASSERT_NE(model_, nullptr);
    std::ifstream in(dir_ / "summary.json");
    summary_ = nlohmann::json::parse(in);
  }
  const nlohmann::json& RecordSummary(const std::string& rec) const {
    for (const auto& s : summary_["sequences"]) {
      if (s["name"] == rec) return s;
    }
    ADD_FAILURE() << "no summary for " << rec;
    return summary_;
  }
  // Compares one record's result with every golden file for it.
  void CheckRecord(const std::string& rec, const std::vector<int32_t>& tokens,
                   const ForwardResult& r, bool with_logits, bool with_hidden) {
    const size_t S = tokens.size();
    SCOPED_TRACE(GetParam() + "/" + rec);
    const auto want_lp = ReadNpyFloats(dir_ / (rec + ".logprobs.npy"));
    ASSERT_EQ(r.log_probs.size(), S - 1);
    EXPECT_LE(MaxAbsDiff(r.log_probs, want_lp), kTol);
    // Per-sequence sum and mean vs summary.json (summed there in float64 over the fp32 values).
    // Each log-prob is within kTol, so the mean is within kTol and the sum within kTol·(S−1).
    double sum = 0;
    for (float v : r.log_probs) sum += v;
    const auto& s = RecordSummary(rec)["fp32"];
    EXPECT_NEAR(sum, s["logprob_sum"].get<double>(), kTol * std::max<size_t>(1, S - 1));
    if (S > 1) {
      EXPECT_NEAR(sum / double(S - 1), s["logprob_mean"].get<double>(), kTol);
    }
    if (with_logits) {
      const auto logits_path = dir_ / (rec + ".logits.npy");
      if (S <= 2048 && !std::filesystem::exists(logits_path) && !evo2::testing::HaveSharedGolden()) {
        // The in-repo golden subset leaves out the 4 MB len02048 logits (tests/data/golden/
        // README.md); this record's log-probs, sum and mean were still checked above.
        std::cerr << "note: " << logits_path << " not in the repository subset; logits unchecked\n";
      } else if (S <= 2048) {
        EXPECT_LE(MaxAbsDiff(r.logits, ReadNpyFloats(logits_path)), kTol);
      } else {
        ASSERT_EQ(r.logits.size(), S * 512);
        std::vector<float> last(r.logits.end() - 64 * 512, r.logits.end());
        EXPECT_LE(MaxAbsDiff(last, ReadNpyFloats(dir_ / (rec + ".logits_last64.npy"))), kTol);
      }
    }
    if (with_hidden) {
      const int mid = model_->config().num_layers / 2;
      for (int b : {0, mid}) {
        auto it = r.hidden.find(b);
        ASSERT_NE(it, r.hidden.end()) << "block " << b;
        EXPECT_LE(MaxAbsDiff(it->second, ReadNpyFloats(dir_ / (rec + ".hidden_after_block" +
                                                            std::to_string(b) + ".npy"))),
                  kTol)
            << "hidden after block " << b;
      }
    }
  }

  std::filesystem::path dir_;
  Model* model_ = nullptr;
  nlohmann::json summary_;
};

TEST_P(CpuGoldenTest, ForwardEveryRecord) {
  for (const char* rec : kRecords) {
    const auto tokens = ReadNpyTokens(dir_ / (std::string(rec) + ".tokens.npy"));
    ASSERT_FALSE(tokens.empty());
    ForwardOptions opts;
    opts.logits = true;
    const bool hidden = tokens.size() <= 1000;  // saved for S ≤ 1000
    const int mid = model_->config().num_layers / 2;
    if (hidden) opts.hidden_after_blocks = {0, mid};
    auto r = model_->Forward(tokens, opts);
    ASSERT_TRUE(r.ok()) << rec << ": " << r.status();
    CheckRecord(rec, tokens, *r, /*with_logits=*/true, hidden);
  }
}

TEST_P(CpuGoldenTest, ForwardBatchEqualsForwardAlone) {
  std::vector<std::vector<int32_t>> seqs;
  for (const char* rec : kRecords)
    seqs.push_back(ReadNpyTokens(dir_ / (std::string(rec) + ".tokens.npy")));
  ForwardOptions opts;  // log-probs only: the path `predict` takes
  opts.hidden_after_blocks = {0};
  auto batch = model_->ForwardBatch(seqs, opts);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    CheckRecord(kRecords[i], seqs[i], (*batch)[i], false, false);
    // Same record alone (shortest and a mid-length one; the long ones are covered above).
    if (seqs[i].size() <= 500) {
      auto alone = model_->Forward(seqs[i], opts);
      ASSERT_TRUE(alone.ok());
      EXPECT_EQ(alone->log_probs, (*batch)[i].log_probs) << kRecords[i];
      EXPECT_EQ(alone->hidden.at(0), (*batch)[i].hidden.at(0)) << kRecords[i];
    }
  }
  // Logits are not materialised when only log-probs are asked.
  for (const auto& r : *batch) EXPECT_TRUE(r.logits.empty());
}

TEST_P(CpuGoldenTest, NamedLayerCaptures) {
  const auto tokens = ReadNpyTokens(dir_ / "len00017.tokens.npy");
  const int mid = model_->config().num_layers / 2;
  ForwardOptions opts;
  opts.log_probs = false;
  opts.layers = {"blocks.0", "decoder.layers." + std::to_string(mid), "blocks.0.mlp.l3",
                 "embedding_layer", "norm"};
  auto r = model_->Forward(tokens, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->log_probs.empty());
  const auto h0 = ReadNpyFloats(dir_ / "len00017.hidden_after_block0.npy");
  EXPECT_LE(MaxAbsDiff(r->layers.at("blocks.0"), h0), kTol);
  EXPECT_LE(
      MaxAbsDiff(r->layers.at("decoder.layers." + std::to_string(mid)),
                 ReadNpyFloats(dir_ / ("len00017.hidden_after_block" + std::to_string(mid) + ".npy"))),
      kTol);
  // blocks.0 = embedding + mixer + MLP output: the MLP capture is the last residual term.
  const auto& emb = r->layers.at("embedding_layer");
  const auto& mlp = r->layers.at("blocks.0.mlp.l3");
  ASSERT_EQ(emb.size(), h0.size());
  ASSERT_EQ(mlp.size(), h0.size());
  EXPECT_EQ(r->layers.at("norm").size(), h0.size());
  auto bad = model_->Forward(tokens, ForwardOptions{true, false, {}, {"blocks.999"}});
  EXPECT_FALSE(bad.ok());
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuGoldenTest,
                         ::testing::Values("a_tiny6", "b_small10", "c_7blike32"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// The same weights as NeMo2 checkpoints (docs/spec/golden.md §3): config from context/model.yaml,
// filters re-parametrised by the loader, TP=2 shards reassembled. Same 1e-4 bound as above
// (docs/spec/golden.md §3: a float64 run on these weights is within 1.1e-5 of the golden).
TEST(CpuNemo2Test, SameResultsAsTheVortexCheckpoint) {
  int ran = 0;
  for (const auto& [name, sub] :
       {std::pair{"a_tiny6", "nemo2_tp1"}, std::pair{"a_tiny6", "nemo2_tp2"},
        std::pair{"b_small10", "nemo2_tp1"}}) {
    auto dir = GoldenCaseDir(name);
    if (!dir || !std::filesystem::is_directory(*dir / sub)) continue;
    SCOPED_TRACE(std::string(name) + "/" + sub);
    LoadOptions opts;
    opts.checkpoint = *dir / sub;
    auto model = LoadModel(opts);
    if (!model.ok() && absl::IsUnimplemented(model.status())) {
      GTEST_SKIP() << "NeMo2 loading not available: " << model.status();
    }
    ASSERT_TRUE(model.ok()) << model.status();
    const auto tokens = ReadNpyTokens(*dir / "len00500.tokens.npy");
    ForwardOptions fo;
    fo.logits = true;
    auto r = (*model)->Forward(tokens, fo);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LE(MaxAbsDiff(r->log_probs, ReadNpyFloats(*dir / "len00500.logprobs.npy")), kTol);
    EXPECT_LE(MaxAbsDiff(r->logits, ReadNpyFloats(*dir / "len00500.logits.npy")), kTol);
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no NeMo2 golden checkpoints present";
}

// The alternative hcl implementation (FFT convolution, ADR 0001) end to end on the 32-layer
// case, 2048 tokens (9 hcl blocks): same 1e-4 bound.
TEST(CpuFftLongFilterTest, GoldenCaseC) {
  auto dir = GoldenCaseDir("c_7blike32");
  if (!dir) GTEST_SKIP() << "golden case c_7blike32 not present";
  auto ckpt = LoadCheckpoint(*dir / "model.pt");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto config = ModelConfigFromVortexYaml(*dir / "config.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateTensors(*config, ckpt->tensors).ok());
  auto weights = cpu::LoadWeights(*config, ckpt->tensors);
  ASSERT_TRUE(weights.ok()) << weights.status();
  cpu::CpuOptions options;
  options.long_filter = cpu::LongFilterMethod::kFft;
  cpu::CpuModel model(*config, std::move(*weights), options);
  const auto tokens = ReadNpyTokens(*dir / "len02048.tokens.npy");
  ForwardOptions fo;
  fo.logits = true;
  auto r = model.Forward(tokens, fo);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(MaxAbsDiff(r->log_probs, ReadNpyFloats(*dir / "len02048.logprobs.npy")), kTol);
  EXPECT_LE(MaxAbsDiff(r->logits, ReadNpyFloats(*dir / "len02048.logits.npy")), kTol);
}

TEST(CpuMemoryTest, EstimateGrowsWithLengthAndOutputs) {
  Model* model = CaseModel("a_tiny6");
  if (model == nullptr) GTEST_SKIP() << "golden case a_tiny6 not present";
  auto* cpu_model = dynamic_cast<cpu::CpuModel*>(model);
  ASSERT_NE(cpu_model, nullptr);
  ForwardOptions lp_only;
  ForwardOptions with_logits;
  with_logits.logits = true;
  const int64_t S = 100000, H = 128;
  const int64_t base = cpu_model->EstimateForwardBytes(S, lp_only);
  // At least the residual stream, normed input and the [S, 3H] projection, in fp32.
  EXPECT_GE(base, 4 * (3 * S * H + 3 * S * H));
  // Asking for logits adds the [S, 512] fp32 matrix (minus the 256-row chunk it replaces).
  EXPECT_EQ(cpu_model->EstimateForwardBytes(S, with_logits) - base, 4 * (S - 256) * 512);
  // A billion tokens is far beyond any machine that runs this test.
  EXPECT_GT(cpu_model->EstimateForwardBytes(int64_t{1} << 30, lp_only), int64_t{1} << 40);
}

TEST(CpuLoadModelTest, ClearErrors) {
  auto dir = GoldenCaseDir("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  LoadOptions opts;
  opts.checkpoint = *dir / "model.pt";
  auto bad_device = ParseDevice("cuda-nonexistent");
  ASSERT_FALSE(bad_device.ok());
  EXPECT_NE(bad_device.status().message().find("valid: cpu, cuda"), std::string::npos);

  opts.device = Device::kCpu;
  opts.model_size = "7b";  // disagrees with the checkpoint's config.yml
  auto m = LoadModel(opts);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("num_layers"), std::string::npos) << m.status();

  opts.model_size = "7b_nv";
  m = LoadModel(opts);
  ASSERT_FALSE(m.ok());

  opts.model_size.reset();
  opts.precision = Precision::kBf16;
  m = LoadModel(opts);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("fp32"), std::string::npos) << m.status();

  opts.precision = Precision::kDefault;
  opts.checkpoint = *dir / "does_not_exist.pt";
  EXPECT_FALSE(LoadModel(opts).ok());
}

TEST(CpuLoadModelTest, EmptyAndOutOfRangeTokens) {
  Model* model = CaseModel("a_tiny6");
  if (model == nullptr) GTEST_SKIP() << "golden case a_tiny6 not present";
  std::vector<int32_t> empty;
  EXPECT_FALSE(model->Forward(empty, {}).ok());
  std::vector<int32_t> bad = {65, 512};
  auto r = model->Forward(bad, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position 1"), std::string::npos);
}

}  // namespace
}  // namespace evo2
