// Kernel tests for the HuggingFace-convention RMSNorm (kernels/rms_norm_eps_inside.cuh) and the
// SwiGLU gate (kernels/swiglu.cuh) against float64 references, on odd sizes, with NaN-poisoned
// outputs.
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/rms_norm_eps_inside.cuh"
#include "kernels/swiglu.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class NormSwiGluTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(NormSwiGluTest, ElementTypes);

TYPED_TEST(NormSwiGluTest, RmsNormEpsInsideMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(41);
  for (int hidden : {1, 37, 128, 4099}) {
    for (int rows : {1, 13}) {
      const float eps = 1e-5f;
      // Rows of very different scales, one near zero (where ε inside the root matters).
      std::vector<float> x = RandomValues<float>(static_cast<size_t>(rows) * hidden, 1.f, rng);
      for (int i = 0; i < hidden; ++i) x[i] *= 1e-3f;
      auto scale = RandomValues<T>(hidden, 1.f, rng);
      DeviceBuffer dx = Upload<float>(x), ds = Upload<T>(scale);
      DeviceBuffer dy = Poisoned<T>(static_cast<size_t>(rows) * hidden);
      ASSERT_TRUE(LaunchRmsNormEpsInside<T>(dx.as<float>(), ds.as<T>(), dy.as<T>(), rows, hidden,
                                            eps, nullptr)
                      .ok());
      std::vector<double> want(x.size());
      for (int r = 0; r < rows; ++r) {
        double ss = 0;
        for (int i = 0; i < hidden; ++i) ss += double(x[r * hidden + i]) * x[r * hidden + i];
        const double inv = 1.0 / std::sqrt(ss / hidden + eps);
        for (int i = 0; i < hidden; ++i)
          want[r * hidden + i] = scale[i] * (x[r * hidden + i] * inv);
      }
      EXPECT_LE(RelL2(Download<T>(dy, x.size()), want), Tolerance<T>())
          << "rows=" << rows << " H=" << hidden;
    }
  }
}

TYPED_TEST(NormSwiGluTest, SwiGluMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(42);
  for (int inner : {1, 2, 37, 256, 1001, 1002}) {  // odd F: scalar kernel; even: paired
    const int rows = 7;
    auto g = RandomValues<T>(static_cast<size_t>(rows) * 2 * inner, 2.f, rng);
    DeviceBuffer dg = Upload<T>(g);
    ASSERT_TRUE(LaunchSwiGlu<T>(dg.as<T>(), rows, inner, nullptr).ok());
    const auto got_all = Download<T>(dg, g.size());
    std::vector<float> got;
    std::vector<double> want;
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < inner; ++i) {
        const double a = g[r * 2 * inner + i], u = g[r * 2 * inner + inner + i];
        want.push_back(a / (1.0 + std::exp(-a)) * u);
        got.push_back(got_all[r * 2 * inner + i]);
        // The up half is left as it was.
        ASSERT_EQ(got_all[r * 2 * inner + inner + i], g[r * 2 * inner + inner + i]);
      }
    }
    // bf16: SiLU's output and the product are rounded (as transformers' bf16 run does).
    EXPECT_LE(RelL2(got, want), Tolerance<T>()) << "F=" << inner;
  }
}

TEST(NormSwiGluValidationTest, RefusesBadShapes) {
  float* p = reinterpret_cast<float*>(256);
  EXPECT_EQ(LaunchRmsNormEpsInside<float>(p, p, p, 4, 0, 1e-5f, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchSwiGlu<float>(nullptr, 4, 8, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchSwiGlu<float>(p, 4, 0, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace evo2::kernels::testing
