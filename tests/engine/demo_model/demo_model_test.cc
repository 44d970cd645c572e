// The shipped default model, models/evo2-demo (docs/demo-model.md), on the CPU engine.
//
// The reference is the training script's own PyTorch forward pass (tools/train_demo/
// evo2_torch.py, an independent implementation of docs/spec/model.md, itself checked
// against the vortex golden vectors to 1.1e-5), run in fp32 on the bf16 weights of model.pt by
// tools/train_demo/make_reference.py. The records are held-out DNA that training never saw:
// E. coli 536, the human beta-globin locus (chr11), phage lambda, human chr20 57 Mb.
//
// Tolerance 1e-4 max-abs per log-prob: make_reference.py measured the reference's own fp32
// rounding as ≤ 4.5e-6 against float64, and an fp32 engine that sums in another order lands in
// the same 1e-5 range (docs/spec/golden.md §2); a wrong orientation, order or norm gives errors of
// 0.1 or more. NaN/inf never passes.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/npy.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using evo2::testing::SourceDir;
using evo2::testing::MaxAbsDiff;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;

constexpr double kTol = 1e-4;
// -ln 4: the log-likelihood per base of a model that knows only that DNA has four letters.
constexpr double kTwoBitBaseline = -1.3862943611198906;

struct Record {
  const char* name;
  size_t length;
};
// gtest prints the parameter in test names and failures: the record name, not its bytes.
void PrintTo(const Record& r, std::ostream* os) { *os << r.name; }

const Record kRecords[] = {
    {"lambda_17", 17},
    {"hbb_sickle_1000", 1000},
    {"ecoli536_1M_2048", 2048},
    {"chr20_57M_8192", 8192},
};

std::filesystem::path ModelDir() { return SourceDir() / "models" / "evo2-demo"; }
std::filesystem::path DataDir() { return SourceDir() / "tests" / "data" / "demo_model"; }

// Loaded once for the whole suite (the model directory form, as `evo2 predict` uses it).
Model* DemoModel() {
  static std::unique_ptr<Model> model = [] {
    LoadOptions opts;
    opts.checkpoint = ModelDir();
    auto m = LoadModel(opts);
    EXPECT_TRUE(m.ok()) << ModelDir() << ": " << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }();
  return model.get();
}

TEST(DemoModelTest, ConfigIsThePublishedLayerOrder) {
  Model* m = DemoModel();
  ASSERT_NE(m, nullptr);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.num_layers, 11);
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.inner_mlp_size, 768);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.hcs_filter_groups, 16);
  EXPECT_EQ(c.hcm_filter_groups, 16);
  EXPECT_EQ(c.Pattern(), "SDH*SDHSDH*");  // the 1B / 7B models' first 11 layers
  EXPECT_EQ(c.rotary_position_scale, 1.0);
  EXPECT_EQ(c.mlp_activation, MlpActivation::kArc);
}

// The file is in the vortex format (docs/spec/model.md §9): bf16 except the hcl poles/residues and
// the rotary inverse frequencies (fp32), no extra keys.
TEST(DemoModelTest, CheckpointDtypesAreVortexs) {
  auto ckpt = LoadCheckpoint(ModelDir() / "model.pt");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->format, CheckpointFormat::kVortexPt);
  int fp32 = 0;
  for (const auto& [name, tensor] : ckpt->tensors) {
    const bool want_fp32 = name.ends_with("filter.log_poles") ||
                           name.ends_with("filter.residues") ||
                           name.ends_with("rotary_emb.inv_freq");
    EXPECT_EQ(tensor.dtype(), want_fp32 ? DType::kFloat32 : DType::kBFloat16) << name;
    fp32 += want_fp32;
  }
  EXPECT_EQ(fp32, 3 * 2 + 2);  // 3 hcl blocks x (poles, residues) + 2 attention blocks
  // 2 + 11 blocks x (2 norms, 3 MLP) + 9 Hyena x 4 + hcs 3x1 + hcm 3x2 + hcl 3x3 + attn 2x4.
  EXPECT_EQ(ckpt->tensors.size(), size_t{2 + 11 * 5 + 9 * 4 + 3 * 1 + 3 * 2 + 3 * 3 + 2 * 4});
}

class DemoModelRecordTest : public ::testing::TestWithParam<Record> {};

TEST_P(DemoModelRecordTest, LogProbsMatchPyTorch) {
  const Record& rec = GetParam();
  Model* m = DemoModel();
  ASSERT_NE(m, nullptr);
  const auto tokens = ReadNpyTokens(DataDir() / (std::string(rec.name) + ".tokens.npy"));
  const auto want = ReadNpyFloats(DataDir() / (std::string(rec.name) + ".logprobs.npy"));
  ASSERT_EQ(tokens.size(), rec.length);
  ASSERT_EQ(want.size(), rec.length - 1);
  auto r = m->Forward(tokens, ForwardOptions{});
  ASSERT_TRUE(r.ok()) << rec.name << ": " << r.status();
  ASSERT_EQ(r->log_probs.size(), rec.length - 1);
  const double diff = MaxAbsDiff(r->log_probs, want);
  RecordProperty("max_abs_diff", std::to_string(diff));
  std::printf("%s: max |C++ - PyTorch| = %.3g over %zu log-probs\n", rec.name, diff,
              want.size());
  EXPECT_LE(diff, kTol) << rec.name;
  // What the model learned (docs/demo-model.md): on a held-out record of 1000+ bases it beats
  // the 2-bit baseline. A corrupted or untrained model.pt fails here even if the two
  // implementations agree with each other.
  if (rec.length >= 1000) {
    double sum = 0;
    for (float v : r->log_probs) sum += v;
    EXPECT_GT(sum / double(rec.length - 1), kTwoBitBaseline + 0.03) << rec.name;
  }
}

INSTANTIATE_TEST_SUITE_P(HeldOut, DemoModelRecordTest, ::testing::ValuesIn(kRecords),
                         [](const ::testing::TestParamInfo<Record>& p) {
                           return std::string(p.param.name);
                         });

}  // namespace
}  // namespace evo2
