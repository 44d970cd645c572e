// FP8 linears on the CPU backend (the emulation the GPU is tested against, docs/spec/fp8.md):
// on the golden models the mean log-prob stays within 5e-2 of the reference's bf16 run, the
// modes differ from each other and from fp32 (so they are really applied), and other families
// refuse the flag.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "evo2/model.h"
#include "evo2/npy.h"
#include "support/expect_contains.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

std::vector<float> LogProbs(const fs::path& ckpt, Fp8Mode mode, const std::vector<int32_t>& tokens,
                            std::string* backend = nullptr) {
  LoadOptions lo;
  lo.checkpoint = ckpt;
  lo.fp8 = mode;
  auto model = LoadModel(lo);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  if (backend != nullptr) *backend = (*model)->backend_name();
  auto r = (*model)->Forward(tokens, ForwardOptions{});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->log_probs : std::vector<float>{};
}

double Mean(const std::vector<float>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

class Fp8Model : public ::testing::TestWithParam<const char*> {};

TEST_P(Fp8Model, StaysNearTheBf16ReferenceAndIsApplied) {
  const std::string name = GetParam();
  if (name != "a_tiny6" && !testing::HaveSharedGolden()) GTEST_SKIP() << name << " needs the shared golden set";
  auto dir = testing::GoldenCaseDir(name);
  ASSERT_TRUE(dir.has_value());
  auto tok = ReadNpy(*dir / "len00500.tokens.npy");
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto ids = tok->ToInt64();
  ASSERT_TRUE(ids.ok()) << ids.status();
  const std::vector<int64_t> id_values = *std::move(ids);
  std::vector<int32_t> tokens(id_values.begin(), id_values.end());
  auto bf16 = ReadNpy(*dir / "len00500.bf16run.logprobs.npy");
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  const double bf16_mean = Mean(bf16->ToFloat32().value());

  std::string backend;
  const auto fp32 = LogProbs(*dir / "model.pt", Fp8Mode::kOff, tokens);
  const auto proj = LogProbs(*dir / "model.pt", Fp8Mode::kHyenaProjections, tokens, &backend);
  EXPECT_EQ(backend, "cpu-fp32+fp8-hyena-projections");
  const auto full = LogProbs(*dir / "model.pt", Fp8Mode::kAllLinears, tokens, &backend);
  EXPECT_EQ(backend, "cpu-fp32+fp8-all-linears");
  ASSERT_EQ(proj.size(), fp32.size());
  ASSERT_EQ(full.size(), fp32.size());
  double proj_vs_fp32 = 0, full_vs_proj = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    ASSERT_FALSE(std::isnan(proj[i]) || std::isnan(full[i])) << i;
    proj_vs_fp32 = std::max(proj_vs_fp32, std::fabs(double(proj[i]) - fp32[i]));
    full_vs_proj = std::max(full_vs_proj, std::fabs(double(full[i]) - proj[i]));
  }
  // The acceptance bound: FP8 mean log-probs within 5e-2 of the bf16 ones.
  EXPECT_NEAR(Mean(proj), bf16_mean, 5e-2) << name;
  EXPECT_NEAR(Mean(full), bf16_mean, 5e-2) << name;
  // E4M3 keeps 3 mantissa bits: per-token log-probs move by far more than fp32 rounding (1e-5).
  EXPECT_GT(proj_vs_fp32, 1e-3);
  EXPECT_GT(full_vs_proj, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Golden, Fp8Model, ::testing::Values("a_tiny6", "b_small10", "c_7blike32"));

TEST(Fp8ModelErrors, OtherFamiliesRefuseFp8) {
  auto eden = testing::GoldenCaseDir("l_eden_a");
  ASSERT_TRUE(eden.has_value());
  LoadOptions lo;
  lo.checkpoint = *eden;
  lo.fp8 = Fp8Mode::kAllLinears;
  auto model = LoadModel(lo);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EVO2_EXPECT_CONTAINS(model.status().message(), "Evo 2 (Hyena) models only");
}

}  // namespace
}  // namespace evo2
