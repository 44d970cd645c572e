// Kernel tests: RMSNorm (with the folded bias add), embedding, MLP gate, log-softmax gather,
// against float64 CPU references on fresh random inputs (docs/spec/model.md §3, §5, §6).
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/embedding.cuh"
#include "kernels/log_softmax_gather.cuh"
#include "kernels/log_sum_exp_gather.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class ElementwiseTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(ElementwiseTest, ElementTypes);

TYPED_TEST(ElementwiseTest, RmsNormMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(1);
  // Widths for each register-row variant of the bf16/fp32 kernel (1, 2, 4, 8 float4 per thread,
  // 4100: a partial last chunk) and for the fallback (H % 4 ≠ 0, H > 8 192).
  const std::vector<std::pair<int, int>> shapes = {{1, 40},   {17, 96},  {33, 1920}, {5, 4096},
                                                   {2, 4100}, {2, 8192}, {3, 42},    {2, 12000}};
  for (const auto& [rows, hidden] : shapes) {
    for (bool with_bias : {false, true}) {
      auto x = RandomValues<T>(static_cast<size_t>(rows) * hidden, 2.f, rng);
      auto scale = RandomValues<T>(hidden, 1.f, rng);
      auto bias = RandomValues<T>(hidden, 0.5f, rng);
      // The residual stream x is fp32 in both modes.
      DeviceBuffer dx = Upload<float>(x), ds = Upload<T>(scale), db = Upload<T>(bias);
      DeviceBuffer dy = Poisoned<T>(x.size());
      ASSERT_TRUE(LaunchRmsNorm<T>(dx.as<float>(), with_bias ? db.as<T>() : nullptr, ds.as<T>(),
                                   dy.as<T>(), rows, hidden, 1e-6f, nullptr)
                      .ok());
      std::vector<double> want(x.size());
      for (int r = 0; r < rows; ++r) {
        double ss = 0;
        std::vector<double> xr(hidden);
        for (int i = 0; i < hidden; ++i) {
          xr[i] = x[r * hidden + i] + (with_bias ? bias[i] : 0.f);
          ss += xr[i] * xr[i];
        }
        const double inv = 1.0 / (std::sqrt(ss / hidden) + 1e-6);  // ε outside the root (§5)
        for (int i = 0; i < hidden; ++i) want[r * hidden + i] = scale[i] * xr[i] * inv;
      }
      EXPECT_LE(RelL2(Download<T>(dy, x.size()), want), Tolerance<T>())
          << "rows=" << rows << " H=" << hidden << " bias=" << with_bias;
      if (with_bias) {  // the bias is added into the fp32 stream in place
        const auto x_after = Download<float>(dx, x.size());
        for (size_t i = 0; i < x.size(); ++i) ASSERT_FLOAT_EQ(x_after[i], x[i] + bias[i % hidden]);
      }
    }
  }
}

TYPED_TEST(ElementwiseTest, EmbeddingGathersRows) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(2);
  const int vocab = 512, hidden = 72, rows = 19;
  auto table = RandomValues<T>(static_cast<size_t>(vocab) * hidden, 1.f, rng);
  std::vector<int32_t> ids(rows);
  for (int& id : ids) id = static_cast<int>(rng() % vocab);
  DeviceBuffer dt = Upload<T>(table), dout = Poisoned<T>(static_cast<size_t>(rows) * hidden);
  auto dids = DeviceBuffer::Allocate(rows * sizeof(int32_t));
  ASSERT_TRUE(dids.ok());
  ASSERT_EQ(cudaMemcpy(dids->get(), ids.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_TRUE(
      LaunchEmbedding<T>(dids->as<int32_t>(), dt.as<T>(), dout.as<T>(), rows, hidden, vocab, nullptr)
          .ok());
  const auto got = Download<T>(dout, static_cast<size_t>(rows) * hidden);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < hidden; ++i)
      ASSERT_EQ(got[r * hidden + i], table[ids[r] * hidden + i]) << "row " << r;  // exact copy
}

TYPED_TEST(ElementwiseTest, MlpGateMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(3);
  for (bool gelu : {false, true}) {
    for (const auto& [rows, inner] : std::vector<std::pair<int, int>>{{1, 33}, {21, 352}}) {
      auto g = RandomValues<T>(static_cast<size_t>(rows) * 2 * inner, 1.5f, rng);
      DeviceBuffer dg = Upload<T>(g);
      ASSERT_TRUE(LaunchMlpGate<T>(dg.as<T>(), rows, inner, gelu, nullptr).ok());
      const auto all = Download<T>(dg, g.size());
      std::vector<float> got;
      std::vector<double> want;
      for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < inner; ++i) {
          const double a = g[r * 2 * inner + i];
          const double phi = gelu ? 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))) : a;
          want.push_back(phi * g[r * 2 * inner + inner + i]);
          got.push_back(all[r * 2 * inner + i]);
          // The second half (l2 outputs) is left untouched.
          ASSERT_EQ(all[r * 2 * inner + inner + i], g[r * 2 * inner + inner + i]);
        }
      }
      EXPECT_LE(RelL2(got, want), Tolerance<T>()) << "gelu=" << gelu << " rows=" << rows;
    }
  }
}

TEST(LogSoftmaxGatherTest, MatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(4);
  const int vocab = 512;
  for (int rows : {1, 7, 300}) {
    auto logits = RandomValues<float>(static_cast<size_t>(rows) * vocab, 3.f, rng);
    std::vector<int32_t> targets(rows);
    for (int r = 0; r < rows; ++r) targets[r] = r == rows - 1 ? -1 : static_cast<int>(rng() % 256);
    DeviceBuffer dl = Upload<float>(logits), dlp = Poisoned<float>(rows);
    auto dt = DeviceBuffer::Allocate(rows * sizeof(int32_t));
    ASSERT_TRUE(dt.ok());
    ASSERT_EQ(cudaMemcpy(dt->get(), targets.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice),
              cudaSuccess);
    ASSERT_TRUE(LaunchLogSoftmaxGather(dl.as<float>(), dt->as<int32_t>(), dlp.as<float>(), rows,
                                       vocab, nullptr)
                    .ok());
    const auto got = Download<float>(dlp, rows);
    for (int r = 0; r < rows; ++r) {
      double want = 0;
      if (targets[r] >= 0) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < vocab; ++j) m = std::max<double>(m, logits[r * vocab + j]);
        for (int j = 0; j < vocab; ++j) s += std::exp(logits[r * vocab + j] - m);
        want = logits[r * vocab + targets[r]] - m - std::log(s);
      }
      // fp32 log-sum-exp over 512 terms of magnitude ~10: ~1e-5 absolute.
      ASSERT_NEAR(got[r], want, 2e-5) << "row " << r;
    }
  }
}

// The vocab-parallel form: one shard's (lse, picked) pair per row, against a host reference, at
// odd row counts and a shard width that is not a multiple of the warp; a target outside the shard
// (-1, or past its columns) picks 0.
TEST(LogSumExpGatherTest, MatchesReferenceOnOddShards) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  for (int vocab : {1, 37, 256}) {
    for (int rows : {1, 9, 301}) {
      auto logits = RandomValues<float>(static_cast<size_t>(rows) * vocab, 3.f, rng);
      std::vector<int32_t> targets(rows);
      for (int r = 0; r < rows; ++r)
        targets[r] = r % 5 == 4 ? -1 : r % 7 == 6 ? vocab : static_cast<int>(rng() % vocab);
      DeviceBuffer dl = Upload<float>(logits), dout = Poisoned<float>(2 * rows);
      auto dt = DeviceBuffer::Allocate(rows * sizeof(int32_t));
      ASSERT_TRUE(dt.ok());
      ASSERT_EQ(
          cudaMemcpy(dt->get(), targets.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice),
          cudaSuccess);
      ASSERT_TRUE(LaunchLogSumExpGather(dl.as<float>(), dt->as<int32_t>(), dout.as<float>(), rows,
                                        vocab, nullptr)
                      .ok());
      const auto got = Download<float>(dout, 2 * rows);
      for (int r = 0; r < rows; ++r) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < vocab; ++j) m = std::max<double>(m, logits[r * vocab + j]);
        for (int j = 0; j < vocab; ++j) s += std::exp(logits[r * vocab + j] - m);
        const bool in_shard = targets[r] >= 0 && targets[r] < vocab;
        // fp32 log-sum-exp over at most 256 terms of magnitude ~10: ~1e-5 absolute.
        ASSERT_NEAR(got[2 * r], m + std::log(s), 2e-5) << "vocab " << vocab << " row " << r;
        ASSERT_EQ(got[2 * r + 1], in_shard ? logits[r * vocab + targets[r]] : 0.f)
            << "vocab " << vocab << " row " << r;
      }
    }
  }
}

TEST(LaunchValidationTest, RejectsBadShapes) {
  // Runs without a GPU too: shape checks happen before any launch.
  float* p = reinterpret_cast<float*>(16);
  EXPECT_FALSE(LaunchRmsNorm<float>(p, nullptr, p, p, 4, 8, 1e-6f, nullptr).ok());  // y aliases x
  EXPECT_FALSE(LaunchRmsNorm<float>(p, nullptr, p, p + 64, 4, 0, 1e-6f, nullptr).ok());
  EXPECT_FALSE(LaunchMlpGate<float>(nullptr, 4, 8, false, nullptr).ok());
}

}  // namespace
}  // namespace evo2::kernels::testing
