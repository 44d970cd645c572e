// The FP8 E4M3 emulation (ops/fp8.h, docs/spec/fp8.md): rounding checked against every one of
// the 256 E4M3 codes decoded independently, and the FP8 linear against a float64 evaluation of
// its defining formula on random inputs of odd shapes, zero rows and extreme magnitudes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "ops/fp8.h"

namespace evo2::ops {
namespace {

// E4M3 (fn) code -> value: bias 7, subnormals at exponent field 0, 0x7F/0xFF NaN.
double DecodeE4M3(int code) {
  const int sign = code >> 7, exp = (code >> 3) & 15, man = code & 7;
  if (exp == 15 && man == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = exp == 0 ? std::ldexp(man / 8.0, -6) : std::ldexp(1.0 + man / 8.0, exp - 7);
  return sign ? -mag : mag;
}

TEST(Fp8Round, EveryCodeIsAFixedPointAndMidpointsRoundToEven) {
  std::vector<double> values;
  for (int code = 0; code < 128; ++code) {
    const double v = DecodeE4M3(code);
    if (std::isnan(v)) continue;
    values.push_back(v);
    EXPECT_EQ(RoundToE4M3(static_cast<float>(v)), static_cast<float>(v)) << "code " << code;
    EXPECT_EQ(RoundToE4M3(static_cast<float>(-v)), static_cast<float>(-v)) << "code " << code;
  }
  ASSERT_EQ(values.size(), 127u);
  EXPECT_EQ(values.back(), 448.0);
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    const double lo = values[i], hi = values[i + 1], mid = (lo + hi) / 2;
    // Just inside each half goes to the nearer code; the exact midpoint to the even mantissa.
    EXPECT_EQ(RoundToE4M3(std::nextafter(static_cast<float>(mid), 0.0f)), static_cast<float>(lo));
    EXPECT_EQ(RoundToE4M3(std::nextafter(static_cast<float>(mid), 1e9f)), static_cast<float>(hi));
    const int lo_code = static_cast<int>(i);  // codes 0..126 are ascending here
    const float even = (lo_code & 1) == 0 ? static_cast<float>(lo) : static_cast<float>(hi);
    EXPECT_EQ(RoundToE4M3(static_cast<float>(mid)), even) << lo << " .. " << hi;
  }
  // Saturation, NaN, signed zero, below half the smallest subnormal.
  EXPECT_EQ(RoundToE4M3(1e30f), 448.0f);
  EXPECT_EQ(RoundToE4M3(-500.0f), -448.0f);
  EXPECT_EQ(RoundToE4M3(std::numeric_limits<float>::infinity()), 448.0f);
  EXPECT_TRUE(std::isnan(RoundToE4M3(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(RoundToE4M3(std::ldexp(1.0f, -11)), 0.0f);
  EXPECT_EQ(RoundToE4M3(std::ldexp(1.5f, -10)), std::ldexp(1.0f, -9));
}

TEST(Fp8Scale, FromAmax) {
  EXPECT_EQ(E4M3ScaleForAmax(448.0f), 1.0f);
  EXPECT_EQ(E4M3ScaleForAmax(2.0f), 224.0f);
  EXPECT_EQ(E4M3ScaleForAmax(0.0f), 1.0f);
  EXPECT_EQ(E4M3ScaleForAmax(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(E4M3ScaleForAmax(std::numeric_limits<float>::quiet_NaN()), 1.0f);
}

// y = (1/s_t · 1/s_w) Σ E4M3(x·s_t) E4M3(W·s_w) (+ bias), in float64 from the definition.
std::vector<double> Reference(const std::vector<float>& x, int64_t rows, int64_t in, const std::vector<float>& w,
                              int64_t out, const std::vector<float>& bias) {
  float wmax = 0;
  for (float v : w) wmax = std::fmax(wmax, std::fabs(v));
  const float sw = E4M3ScaleForAmax(wmax);
  std::vector<double> y(static_cast<size_t>(rows * out));
  for (int64_t t = 0; t < rows; ++t) {
    float xmax = 0;
    for (int64_t k = 0; k < in; ++k) xmax = std::fmax(xmax, std::fabs(x[t * in + k]));
    const float sx = E4M3ScaleForAmax(xmax);
    const double m = static_cast<double>((1.0f / sx) * (1.0f / sw));
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < in; ++k) {
        acc += static_cast<double>(RoundToE4M3(x[t * in + k] * sx)) * RoundToE4M3(w[o * in + k] * sw);
      }
      y[t * out + o] = m * acc + (bias.empty() ? 0.0 : bias[o]);
    }
  }
  return y;
}

TEST(Fp8Linear, MatchesTheDefinitionOnOddShapesAndMagnitudes) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  struct Shape {
    int64_t rows, in, out;
    float x_magnitude, w_magnitude;
  };
  for (const Shape& sh : {Shape{1, 1, 1, 1, 1}, Shape{7, 13, 5, 1, 1}, Shape{33, 81, 17, 1e-20f, 3e3f},
                          Shape{9, 64, 40, 1e20f, 1e-3f}, Shape{5, 3, 129, 0.5f, 0.02f}}) {
    std::vector<float> x(static_cast<size_t>(sh.rows * sh.in)), w(static_cast<size_t>(sh.out * sh.in)),
        bias(static_cast<size_t>(sh.out));
    for (float& v : x) v = normal(rng) * sh.x_magnitude;
    for (float& v : w) v = normal(rng) * sh.w_magnitude;
    for (float& v : bias) v = normal(rng);
    if (sh.rows > 2) std::fill(x.begin() + sh.in, x.begin() + 2 * sh.in, 0.0f);  // an all-zero row
    const Fp8Matrix q = QuantizeMatrixE4M3(w.data(), sh.out, sh.in);
    std::vector<float> y(static_cast<size_t>(sh.rows * sh.out), -1.0f), scratch;
    Fp8Linear(x.data(), sh.rows, sh.in, q, bias.data(), y.data(), sh.out, false, scratch);
    const std::vector<double> want = Reference(x, sh.rows, sh.in, w, sh.out, bias);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_FALSE(std::isnan(y[i]));
      // fp32 sums of K products of 4-bit-mantissa values, scaled once: a few fp32 ulp of the
      // sum of magnitudes.
      const double tol = 1e-6 * (std::fabs(want[i]) + 1.0) * std::sqrt(static_cast<double>(sh.in));
      EXPECT_NEAR(y[i], want[i], tol) << "shape " << sh.rows << "x" << sh.in << "x" << sh.out << " at " << i;
    }
    if (sh.rows > 2) {
      for (int64_t o = 0; o < sh.out; ++o) EXPECT_EQ(y[sh.out + o], bias[o]) << "zero row gives the bias";
    }
  }
}

}  // namespace
}  // namespace evo2::ops
