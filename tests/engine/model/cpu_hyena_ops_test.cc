// Hyena ops against naive double loops written straight from docs/spec/model.md §7.
#include <cmath>
#include <vector>

#include "cpu/hyena_featurizer.h"
#include "cpu/hyena_long_filter.h"
#include "cpu/hyena_long_filter_fft.h"
#include "cpu/hyena_medium_filter.h"
#include "cpu/hyena_short_filter.h"
#include "gtest/gtest.h"
#include "op_test_util.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {
namespace {

using evo2::testing::AllClose;
using evo2::testing::kOddLengths;
using evo2::testing::RandomVector;
using evo2::testing::UniformVector;

TEST(HyenaFeaturizerTest, ConvOrderOnInterleavedColumnsThenDeinterleave) {
  ops::ThreadPool pool(2);
  const int64_t H = 10;
  auto taps = RandomVector(3 * H * 3, 21);
  for (int64_t S : kOddLengths) {
    auto P = RandomVector(S * 3 * H, 22);
    std::vector<float> q(S * H), a(S * H);
    HyenaFeaturize(P.data(), S, H, taps.data(), q.data(), a.data(), pool);
    std::vector<double> want_q(S * H), want_a(S * H);
    auto F = [&](int64_t t, int64_t j) {  // conv order: taps[j][2] · P[t]
      double acc = 0;
      for (int k = 0; k < 3; ++k) {
        const int64_t src = t - 2 + k;
        if (src >= 0) acc += double(taps[j * 3 + k]) * P[src * 3 * H + j];
      }
      return acc;
    };
    for (int64_t t = 0; t < S; ++t) {
      for (int64_t c = 0; c < H; ++c) {
        want_q[t * H + c] = F(t, 3 * c);
        want_a[t * H + c] = F(t, 3 * c + 1) * F(t, 3 * c + 2);
      }
    }
    EXPECT_TRUE(AllClose(q, want_q, 1e-6, 1e-5)) << S;
    EXPECT_TRUE(AllClose(a, want_a, 1e-5, 1e-5)) << S;
  }
}

// y_c[t] = Σ_k h[g,k] · a_c[t - (K-1) + k]  (conv order)
std::vector<double> NaiveShort(const std::vector<float>& a, int64_t S, int64_t H,
                               const std::vector<float>& h, int64_t G, int64_t K) {
  std::vector<double> y(S * H, 0.0);
  for (int64_t c = 0; c < H; ++c) {
    const int64_t g = c / (H / G);
    for (int64_t t = 0; t < S; ++t) {
      for (int64_t k = 0; k < K; ++k) {
        const int64_t src = t - (K - 1) + k;
        if (src >= 0) y[t * H + c] += double(h[g * K + k]) * a[src * H + c];
      }
    }
  }
  return y;
}

TEST(HyenaShortFilterTest, GroupedContiguousBlocksConvOrder) {
  ops::ThreadPool pool(2);
  const int64_t H = 12, G = 3, K = 7;
  auto h = RandomVector(G * K, 23);
  auto taps = ExpandGroupedTaps(h.data(), G, K, H);
  for (int64_t S : kOddLengths) {
    auto a = RandomVector(S * H, 24);
    std::vector<float> y(S * H);
    HyenaShortFilter(a.data(), S, H, taps.data(), K, y.data(), pool);
    EXPECT_TRUE(AllClose(y, NaiveShort(a, S, H, h, G, K), 1e-5, 1e-5)) << S;
  }
}

TEST(HyenaMediumFilterTest, ImpulseOrderPlusSkip) {
  ops::ThreadPool pool(2);
  const int64_t H = 8, G = 2, K = 128;
  auto h = RandomVector(G * K, 25, 0.25f);
  auto D = UniformVector(H, 26, -0.3f, 0.3f);
  auto taps = ExpandGroupedTaps(h.data(), G, K, H);
  // 81 < K and 200 > K exercise both the partial and the full window.
  for (int64_t S : {int64_t{1}, int64_t{9}, int64_t{81}, int64_t{200}}) {
    auto a = RandomVector(S * H, 27);
    std::vector<float> y(S * H);
    HyenaMediumFilter(a.data(), S, H, taps.data(), K, D.data(), y.data(), pool);
    std::vector<double> want(S * H, 0.0);
    for (int64_t c = 0; c < H; ++c) {
      const int64_t g = c / (H / G);
      for (int64_t t = 0; t < S; ++t) {
        double acc = double(D[c]) * a[t * H + c];
        for (int64_t k = 0; k < K && k <= t; ++k) acc += double(h[g * K + k]) * a[(t - k) * H + c];
        want[t * H + c] = acc;
      }
    }
    // Up to 129 fp32 terms of size ~0.25: accumulated rounding ≲ 1e-5.
    EXPECT_TRUE(AllClose(y, want, 2e-5, 1e-5)) << S;
  }
}

// y_c[t] = Σ_{τ≤t} (Σ_n R exp(λ (t-τ))) a_c[τ] + D_c a_c[t], all in double.
std::vector<double> NaiveLong(const std::vector<float>& a, int64_t S, int64_t H,
                              const std::vector<float>& lp, const std::vector<float>& R,
                              const std::vector<float>& D, int64_t M) {
  std::vector<double> y(S * H, 0.0);
  for (int64_t c = 0; c < H; ++c) {
    std::vector<double> h(S, 0.0);
    for (int64_t t = 0; t < S; ++t) {
      for (int64_t n = 0; n < M; ++n)
        h[t] += double(R[c * M + n]) * std::exp(double(lp[c * M + n]) * t);
    }
    for (int64_t t = 0; t < S; ++t) {
      double acc = double(D[c]) * a[t * H + c];
      for (int64_t tau = 0; tau <= t; ++tau) acc += h[t - tau] * a[tau * H + c];
      y[t * H + c] = acc;
    }
  }
  return y;
}

class HyenaLongFilterTest : public ::testing::Test {
 protected:
  static constexpr int64_t H = 9, M = 16;
  void SetUp() override {
    // Decay rates log-uniform in [1e-4, 0.3] per token like the golden models (some modes reach
    // across the whole sequence), residues O(1).
    auto u = UniformVector(H * M, 31, std::log(1e-4f), std::log(0.3f));
    log_poles.resize(H * M);
    for (size_t i = 0; i < u.size(); ++i) log_poles[i] = -std::exp(u[i]);
    residues = RandomVector(H * M, 32, 0.25f);
    D = UniformVector(H, 33, -0.3f, 0.3f);
    filter = MakeModalFilter(log_poles.data(), residues.data(), D.data(), H, M);
  }
  std::vector<float> log_poles, residues, D;
  ModalFilter filter;
};

TEST_F(HyenaLongFilterTest, ModalRecurrenceMatchesDirectConvolution) {
  ops::ThreadPool pool(2);
  for (int64_t S : {int64_t{1}, int64_t{9}, int64_t{81}, int64_t{700}}) {
    auto a = RandomVector(S * H, 34);
    std::vector<float> y(S * H);
    HyenaLongFilterModal(a.data(), S, H, filter, y.data(), pool);
    // Double-precision state: only the final fp32 rounding of O(10) outputs remains.
    EXPECT_TRUE(AllClose(y, NaiveLong(a, S, H, log_poles, residues, D, M), 1e-5, 1e-6)) << S;
  }
}

TEST_F(HyenaLongFilterTest, FftConvolutionMatchesDirectConvolution) {
  ops::ThreadPool pool(2);
  FftPlanCache plans;
  for (int64_t S : {int64_t{1}, int64_t{9}, int64_t{81}, int64_t{700}}) {
    auto a = RandomVector(S * H, 35);
    std::vector<float> y(S * H);
    HyenaLongFilterFft(a.data(), S, H, filter, plans, y.data(), pool);
    // fp32 filter and transforms: error ~ eps·log2(N)·‖h‖‖a‖ — a few 1e-5 on O(10) outputs.
    EXPECT_TRUE(AllClose(y, NaiveLong(a, S, H, log_poles, residues, D, M), 1e-4, 1e-5)) << S;
  }
}

}  // namespace
}  // namespace evo2::cpu
