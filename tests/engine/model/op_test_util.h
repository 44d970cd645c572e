// Helpers for the CPU op tests: seeded random inputs and a NaN-safe closeness check.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace evo2::testing {

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> UniformVector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// |got - want| <= atol + rtol·|want| elementwise; NaN/inf in `got` always fails.
inline ::testing::AssertionResult AllClose(const std::vector<float>& got,
                                           const std::vector<double>& want, double atol,
                                           double rtol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " != expected " << want.size();
  }
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) {
      return ::testing::AssertionFailure() << "non-finite value " << got[i] << " at " << i;
    }
    const double err = std::abs(got[i] - want[i]) / (atol + rtol * std::abs(want[i]));
    if (err > worst) {
      worst = err;
      worst_i = i;
    }
  }
  if (worst > 1.0) {
    return ::testing::AssertionFailure()
           << "at " << worst_i << ": got " << got[worst_i] << " want " << want[worst_i]
           << " (error " << worst << "x the tolerance)";
  }
  return ::testing::AssertionSuccess();
}

// Sequence lengths every op is tested at (odd sizes, flashinfer style; 1 = a single token).
inline constexpr int64_t kOddLengths[] = {1, 9, 81};

}  // namespace evo2::testing
