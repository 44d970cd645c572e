// `evo2 predict` end to end on golden case a_tiny6: the reference's own output files
// (predict_reference_output/, see its README) and the vortex golden per-token log-probs.
#include <cmath>

#include "evo2/npy.h"
#include "evo2/safetensors.h"
#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::ReadFileBytes;
using testing::RunEvo2;
using testing::TempDir;

// The reference files hold logits from an fp64 forward rounded to fp32 and predict's fp32
// post-processing; this engine's fp32 CPU forward differs by rounding only. Required: values
// within 1e-4.
constexpr double kTol = 1e-4;

class PredictGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::GoldenCaseDir("a_tiny6");
    if (!dir) GTEST_SKIP() << "golden case a_tiny6 not available";
    case_ = *dir;
    ref_ = case_ / "predict_reference_output";
  }

  // Runs predict and expects success.
  void Predict(std::vector<std::string> args) {
    auto r = RunEvo2(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Same keys in the same order, same dtypes and shapes, values within kTol (ints exact).
  static void ExpectSamePt(const std::filesystem::path& got_path,
                           const std::filesystem::path& want_path) {
    auto got = ReadTorchPt(got_path);
    ASSERT_TRUE(got.ok()) << got.status();
    auto want = ReadTorchPt(want_path);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(got->size(), want->size());
    for (size_t k = 0; k < want->size(); ++k) {
      const auto& [gk, gt] = (*got)[k];
      const auto& [wk, wt] = (*want)[k];
      EXPECT_EQ(gk, wk) << "key " << k;
      EXPECT_EQ(gt.dtype(), wt.dtype()) << wk;
      ASSERT_EQ(gt.shape(), wt.shape()) << wk;
      if (wt.dtype() == DType::kInt64) {
        EXPECT_EQ(*gt.ToInt64(), *wt.ToInt64()) << wk;
        continue;
      }
      const auto g = *gt.ToFloat32();
      const auto w = *wt.ToFloat32();
      double worst = 0;
      size_t at = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        ASSERT_FALSE(std::isnan(g[i])) << wk << " NaN at " << i;
        const double d = std::abs(double(g[i]) - double(w[i]));
        if (d > worst) {
          worst = d;
          at = i;
        }
      }
      EXPECT_LE(worst, kTol) << wk << " worst at flat index " << at;
    }
  }

  std::filesystem::path case_;
  std::filesystem::path ref_;
};

TEST_F(PredictGolden, DefaultLogitsModeMatchesReferenceFile) {
  TempDir out("default");
  Predict({"predict", "--fasta", (ref_ / "default" / "input.fa").string(), "--ckpt-dir",
           (case_ / "model.pt").string(), "--output-dir", out.path().string()});
  ExpectSamePt(out.path() / "predictions__rank_0__dp_rank_0.pt",
               ref_ / "default" / "predictions__rank_0__dp_rank_0.pt");
  EXPECT_EQ(ReadFileBytes(out.path() / "seq_idx_map.json"),
            ReadFileBytes(ref_ / "default" / "seq_idx_map.json"));
}

// A `.pt` whose config is spelled `config.yaml` carries its own architecture: predict must not
// force its default --model-size in (which the checkpoint would then refuse), and `evo2 layers`
// reads the same file.
TEST_F(PredictGolden, PtWithConfigYamlNeedsNoModelSize) {
  TempDir ckpt("config_yaml");
  std::filesystem::copy_file(case_ / "model.pt", ckpt / "model.pt");
  std::filesystem::copy_file(case_ / "config.yml", ckpt / "config.yaml");
  TempDir out("config_yaml_out");
  Predict({"predict", "--fasta", (case_ / "input.fa").string(), "--ckpt-dir",
           ckpt.path().string(), "--output-dir", out.path().string(), "--output-log-prob-seqs",
           "--log-prob-collapse-option", "mean"});
  ExpectSamePt(out.path() / "predictions__rank_0__dp_rank_0.pt",
               ref_ / "log_prob_mean" / "predictions__rank_0__dp_rank_0.pt");
  auto layers = RunEvo2({"layers", "--ckpt-dir", ckpt.path().string()});
  ASSERT_EQ(layers.exit_code, 0) << layers.err;
  EXPECT_NE(layers.out.find("decoder.layers.0"), std::string::npos) << layers.out;
}

// `--lora-checkpoint-path` with a safetensors adapter on one MLP output projection writes
// exactly what predict writes for a .pt whose weight was merged by hand (W + (alpha/r)·B·A in
// double, rounded once), and not what the base model writes.
TEST_F(PredictGolden, LoraAdapterEqualsHandMergedCheckpoint) {
  auto base = ReadTorchPt(case_ / "model.pt");
  ASSERT_TRUE(base.ok()) << base.status();
  TempDir ckpt("lora_merged");
  NamedTensors merged;
  Tensor a, b;
  for (const auto& [name, w] : *base) {
    if (name != "blocks.0.mlp.l3.weight") {
      merged.emplace_back(name, w);
      continue;
    }
    const int64_t out = w.dim(0), in = w.dim(1), r = 2;
    const double scale = 4.0 / r;  // alpha 4
    std::vector<float> av(static_cast<size_t>(r * in)), bv(static_cast<size_t>(out * r));
    for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(0.2 * std::sin(0.7 * static_cast<double>(i)));
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(0.2 * std::cos(1.3 * static_cast<double>(i)));
    a = Tensor::FromFloat32({r, in}, av);
    b = Tensor::FromFloat32({out, r}, bv);
    std::vector<float> m = w.ToFloat32().value();
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        double acc = 0;
        for (int64_t k = 0; k < r; ++k) acc += static_cast<double>(bv[o * r + k]) * av[k * in + i];
        m[o * in + i] = static_cast<float>(m[o * in + i] + scale * acc);
      }
    }
    merged.emplace_back(name, Tensor::FromFloat32({out, in}, m));
  }
  ASSERT_GT(a.numel(), 0) << "blocks.0.mlp.l3.weight not in model.pt";
  ASSERT_TRUE(WriteTorchPt(ckpt / "model.pt", merged).ok());
  std::filesystem::copy_file(case_ / "config.yml", ckpt / "config.yml");
  TempDir adapter("lora_adapter");
  ASSERT_TRUE(WriteSafetensors(adapter / "fc2.safetensors",
                               {{"decoder.layers.0.mlp.linear_fc2.adapter.linear_in.weight", a},
                                {"decoder.layers.0.mlp.linear_fc2.adapter.linear_out.weight", b}},
                               {{"alpha", "4"}})
                  .ok());

  TempDir with_adapter("lora_out"), hand("lora_hand_out");
  const std::vector<std::string> common = {"--fasta", (case_ / "input.fa").string(), "--output-log-prob-seqs",
                                           "--log-prob-collapse-option", "per_token"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "predict");
    args.insert(args.end(), common.begin(), common.end());
    Predict(args);
  };
  run({"--ckpt-dir", (case_ / "model.pt").string(), "--lora-checkpoint-path",
       (adapter / "fc2.safetensors").string(), "--output-dir", with_adapter.path().string()});
  run({"--ckpt-dir", ckpt.path().string(), "--output-dir", hand.path().string()});
  const std::string file = "predictions__rank_0__dp_rank_0.pt";
  ExpectSamePt(with_adapter / file, hand / file);
  // The adapter changes the scores by far more than the tolerance, or the check above is empty.
  auto adapted = ReadTorchPt(with_adapter / file);
  auto plain = ReadTorchPt(ref_ / "per_token" / file);
  ASSERT_TRUE(adapted.ok() && plain.ok());
  double largest = 0;
  for (size_t k = 0; k < adapted->size(); ++k) {
    if ((*adapted)[k].second.dtype() != DType::kFloat32) continue;
    const auto x = (*adapted)[k].second.ToFloat32().value(), y = (*plain)[k].second.ToFloat32().value();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) largest = std::max(largest, std::abs(double(x[i]) - y[i]));
  }
  EXPECT_GT(largest, 1e-2);
}

TEST_F(PredictGolden, LogProbMeanMatchesReferenceFile) {
  TempDir out("mean");
  Predict({"predict", "--fasta", (case_ / "input.fa").string(), "--ckpt-dir",
           (case_ / "model.pt").string(), "--output-dir", out.path().string(),
           "--output-log-prob-seqs", "--log-prob-collapse-option", "mean"});
  ExpectSamePt(out.path() / "predictions__rank_0__dp_rank_0.pt",
               ref_ / "log_prob_mean" / "predictions__rank_0__dp_rank_0.pt");
  EXPECT_EQ(ReadFileBytes(out.path() / "seq_idx_map.json"),
            ReadFileBytes(ref_ / "log_prob_mean" / "seq_idx_map.json"));
}

TEST_F(PredictGolden, PerTokenMatchesReferenceFileFromNemo2Checkpoint) {
  // The reference ran on the NeMo2 directory; same weights as model.pt.
  TempDir out("per_token");
  Predict({"predict", "--fasta", (case_ / "input.fa").string(), "--ckpt-dir",
           (case_ / "nemo2_tp1").string(), "--output-dir", out.path().string(),
           "--output-log-prob-seqs", "--log-prob-collapse-option", "per_token"});
  ExpectSamePt(out.path() / "predictions__rank_0__dp_rank_0.pt",
               ref_ / "per_token" / "predictions__rank_0__dp_rank_0.pt");
}

TEST_F(PredictGolden, KeepCaseNpyPerTokenEqualsVortexGolden) {
  TempDir out("keep_case");
  Predict({"predict", "--fasta", (case_ / "input.fa").string(), "--ckpt-dir",
           (case_ / "model.pt").string(), "--output-dir", out.path().string(),
           "--output-log-prob-seqs", "--log-prob-collapse-option", "per_token", "--keep-case",
           "--output-format", "npy"});
  for (const char* name : {"len00001", "len00017", "len00500", "len02048", "len08192"}) {
    auto got = ReadNpy(out.path() / (std::string(name) + ".log_probs.npy"));
    ASSERT_TRUE(got.ok()) << got.status();
    auto want = ReadNpy(case_ / (std::string(name) + ".logprobs.npy"));
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(got->shape(), want->shape()) << name;
    const auto g = *got->ToFloat32();
    const auto w = *want->ToFloat32();
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_FALSE(std::isnan(g[i]));
      ASSERT_NEAR(g[i], w[i], kTol) << name << " position " << i;
    }
  }
}

TEST_F(PredictGolden, NpyLogitsAndEmbeddingsEqualVortexGolden) {
  TempDir fa("emb_in");
  // Only len00500 (hidden states are saved for S <= 1000): take it from the golden FASTA.
  const std::string text = ReadFileBytes(case_ / "input.fa");
  const size_t b = text.find(">len00500");
  const size_t e = text.find(">len02048");
  ASSERT_NE(b, std::string::npos);
  const auto input = fa.Write("one.fa", text.substr(b, e - b));
  TempDir out("emb");
  Predict({"predict", "--fasta", input.string(), "--ckpt-dir", (case_ / "model.pt").string(),
           "--output-dir", out.path().string(), "--keep-case", "--output-format", "npy",
           "--embedding-layers", "blocks.3,decoder.layers.0", "--embedding-pooling", "none"});
  for (auto [file, golden] :
       {std::pair{"len00500.logits.npy", "len00500.logits.npy"},
        std::pair{"len00500.hidden_embeddings.blocks.3.npy", "len00500.hidden_after_block3.npy"},
        std::pair{"len00500.hidden_embeddings.decoder.layers.0.npy",
                  "len00500.hidden_after_block0.npy"}}) {
    auto got = ReadNpy(out.path() / file);
    ASSERT_TRUE(got.ok()) << got.status();
    auto want = ReadNpy(case_ / golden);
    ASSERT_TRUE(want.ok());
    ASSERT_EQ(got->shape(), want->shape()) << file;
    const auto g = *got->ToFloat32();
    const auto w = *want->ToFloat32();
    double worst = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_FALSE(std::isnan(g[i]));
      worst = std::max(worst, std::abs(double(g[i]) - w[i]));
    }
    EXPECT_LE(worst, kTol) << file;
  }
}

TEST_F(PredictGolden, MicroBatchesAndMinLengthPadButNeverTruncate) {
  TempDir out("mbs");
  // Micro-batches of 2 and --min-length below the longest record: the per-token rows equal the
  // reference's (mbs 1) exactly where it has values, and the width is the longest record's.
  Predict({"predict", "--fasta", (case_ / "input.fa").string(), "--ckpt-dir",
           (case_ / "model.pt").string(), "--output-dir", out.path().string(),
           "--output-log-prob-seqs", "--log-prob-collapse-option", "per_token",
           "--micro-batch-size", "2", "--min-length", "100"});
  ExpectSamePt(out.path() / "predictions__rank_0__dp_rank_0.pt",
               ref_ / "per_token" / "predictions__rank_0__dp_rank_0.pt");
  // --min-length above it widens every row with masked zeros.
  TempDir wide("min_length");
  Predict({"predict", "--fasta", (ref_ / "default" / "input.fa").string(), "--ckpt-dir",
           (case_ / "model.pt").string(), "--output-dir", wide.path().string(),
           "--output-log-prob-seqs", "--log-prob-collapse-option", "per_token", "--min-length",
           "30"});
  auto pt = ReadTorchPt(wide.path() / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();
  EXPECT_EQ((*pt)[0].second.shape(), (std::vector<int64_t>{2, 29}));
  const auto mask = *(*pt)[2].second.ToInt64();
  int64_t scored = 0;
  for (int64_t m : mask) scored += m;
  EXPECT_EQ(scored, 0 + 16);  // len00001 scores nothing, len00017 scores 16 positions
}

TEST_F(PredictGolden, BatchWriteIntervalAndFai) {
  TempDir in("fai_in");
  // The three shortest records (1, 17 and 500 bases) keep this test fast.
  const std::string text = ReadFileBytes(case_ / "input.fa");
  const auto fasta = in.Write("in.fa", text.substr(0, text.find(">len02048")));
  TempDir out("batch");
  Predict({"predict", "--fasta", fasta.string(), "--ckpt-dir", (case_ / "model.pt").string(),
           "--output-dir", out.path().string(), "--output-log-prob-seqs", "--write-interval",
           "batch", "--write-fai", "--quiet"});
  for (int b = 0; b < 3; ++b) {
    const auto file = out.path() / ("predictions__rank_0__dp_rank_0__batch_" +
                                    std::to_string(b) + ".pt");
    auto pt = ReadTorchPt(file);
    ASSERT_TRUE(pt.ok()) << pt.status();
    ASSERT_EQ(pt->size(), 3u);
    EXPECT_EQ((*pt)[2].first, "batch_idx");
    EXPECT_EQ(*(*pt)[1].second.ToInt64(), (std::vector<int64_t>{b}));  // sorted order
  }
  const std::string fai = ReadFileBytes(in.path() / "in.fa.fai");
  // ">len00001 length=1\n" is 19 bytes; the 500-base record is wrapped at 80 columns.
  EXPECT_EQ(fai.substr(0, fai.find('\n')), "len00001\t1\t19\t1\t2");
  EXPECT_NE(fai.find("len00500\t500\t"), std::string::npos);
  EXPECT_NE(fai.find("\t80\t81\n"), std::string::npos);
  // A second run uses the index and gives the same output.
  TempDir again("batch2");
  Predict({"predict", "--fasta", fasta.string(), "--ckpt-dir", (case_ / "model.pt").string(),
           "--output-dir", again.path().string(), "--output-log-prob-seqs", "--quiet"});
  auto pt = ReadTorchPt(again.path() / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();
}

TEST_F(PredictGolden, LayersCommand) {
  auto preset = RunEvo2({"layers", "--model-size", "7b"});
  ASSERT_EQ(preset.exit_code, 0) << preset.err;
  EXPECT_NE(preset.out.find("\nblocks.31\n"), std::string::npos) << preset.out;
  EXPECT_NE(preset.out.find("\ndecoder.layers.31\n"), std::string::npos);
  auto ckpt = RunEvo2({"layers", "--ckpt-dir", (case_ / "model.pt").string()});
  ASSERT_EQ(ckpt.exit_code, 0) << ckpt.err;
  EXPECT_NE(ckpt.out.find("SDH*SH"), std::string::npos) << ckpt.out;
  EXPECT_EQ(ckpt.out.find("blocks.6\n"), std::string::npos);
  auto none = RunEvo2({"layers"});
  EXPECT_NE(none.exit_code, 0);
}

}  // namespace
}  // namespace evo2
