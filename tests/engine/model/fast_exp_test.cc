// FastExp / FastExp8 (the CPU softmax's exp): the error bound stated in fast_exp.h, measured
// against double-precision exp, and the SIMD form bit-identical to the scalar one.
#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors without AVX: moot in a test

#include "ops/fast_exp.h"

#include <cmath>
#include <cstring>
#include <random>

#include "gtest/gtest.h"

namespace evo2::ops {
namespace {

// fast_exp.h claims ≈ 2 ulp over [-87, 88]; one fp32 ulp relative is 2^-23 ≈ 1.19e-7. The
// bound is the claim itself (measured on these inputs: 7.96e-8, at x ≈ -82.1).
constexpr double kMaxRelError = 2.0 * 1.1920929e-7;

std::vector<float> Inputs() {
  std::mt19937 rng(20261129);
  std::uniform_real_distribution<float> wide(-87.0f, 88.0f), softmax(-20.0f, 0.0f);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) x.push_back(i % 2 ? wide(rng) : softmax(rng));
  for (float v : {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, -87.0f, 88.0f, 1e-8f, -1e-8f}) x.push_back(v);
  while (x.size() % 8) x.push_back(0.25f);
  return x;
}

TEST(FastExp, RelativeErrorWithinStatedBound) {
  double worst = 0;
  float worst_x = 0;
  for (float v : Inputs()) {
    const double want = std::exp(double(v));
    const double rel = std::abs(double(FastExp(v)) - want) / want;
    if (!(rel <= worst)) {  // also catches NaN
      worst = rel;
      worst_x = v;
    }
  }
  EXPECT_LE(worst, kMaxRelError) << "at x = " << worst_x;
}

TEST(FastExp, ClampsVeryNegativeInputsToATinyPositiveValue) {
  for (float v : {-88.0f, -100.0f, -1e30f}) {
    const float e = FastExp(v);
    EXPECT_GT(e, 0.0f) << v;
    EXPECT_LT(e, 1e-37f) << v;
  }
}

TEST(FastExp, EightLaneFormIsBitIdenticalToScalar) {
  const auto x = Inputs();
  for (size_t i = 0; i < x.size(); i += 8) {
    float lanes[8];
    Store8(lanes, FastExp8(Load8(x.data() + i)));
    for (int j = 0; j < 8; ++j) {
      const float scalar = FastExp(x[i + j]);
      ASSERT_EQ(std::memcmp(&lanes[j], &scalar, sizeof(float)), 0) << "x = " << x[i + j];
    }
  }
}

}  // namespace
}  // namespace evo2::ops
