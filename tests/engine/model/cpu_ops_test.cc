// CPU ops (norm, MLP, head, linear, pool) against naive double-precision loops at odd sizes.
#include <atomic>
#include <cmath>
#include <vector>

#include "cpu/gated_mlp.h"
#include "cpu/lm_head.h"
#include "gtest/gtest.h"
#include "op_test_util.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {
namespace {

using evo2::testing::AllClose;
using evo2::testing::kOddLengths;
using evo2::testing::RandomVector;

TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  ops::ThreadPool pool(2);
  for (int64_t n : {0, 1, 2, 9, 81, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n;
  }
}

std::vector<double> NaiveRmsNorm(const std::vector<float>& x, int64_t S, int64_t H,
                                 const std::vector<float>& s, double eps) {
  std::vector<double> y(x.size());
  for (int64_t t = 0; t < S; ++t) {
    double ss = 0;
    for (int64_t c = 0; c < H; ++c) ss += double(x[t * H + c]) * x[t * H + c];
    const double rms = std::sqrt(ss / H);
    for (int64_t c = 0; c < H; ++c) y[t * H + c] = s[c] * x[t * H + c] / (rms + eps);
  }
  return y;
}

TEST(RmsNormTest, EpsilonOutsideTheRoot) {
  ops::ThreadPool pool(2);
  const int64_t H = 37;
  for (int64_t S : kOddLengths) {
    // Small activations and a large eps make "outside the root" and "inside" clearly differ.
    auto x = RandomVector(S * H, 1, 0.05f);
    auto s = RandomVector(H, 2);
    const float eps = 0.01f;
    std::vector<float> y(x.size());
    ops::RmsNorm(x.data(), S, H, s.data(), eps, y.data(), pool);
    // fp32 products/division against double: a few ulp of O(1) values.
    EXPECT_TRUE(AllClose(y, NaiveRmsNorm(x, S, H, s, eps), 1e-6, 1e-5)) << "S=" << S;
    // The usual x / sqrt(mean(x²) + eps) must NOT match (guards against the common formula).
    double ss = 0;
    for (int64_t c = 0; c < H; ++c) ss += double(x[c]) * x[c];
    const double inside = s[0] * x[0] / std::sqrt(ss / H + eps);
    EXPECT_GT(std::abs(inside - y[0]), 1e-3 * std::abs(inside));
  }
}

TEST(LinearTest, MatchesNaiveWithBiasAndStride) {
  const int64_t in = 13, out = 7, ldx = 20;
  for (int64_t rows : kOddLengths) {
    auto x = RandomVector(rows * ldx, 3);
    auto w = RandomVector(out * in, 4);
    auto b = RandomVector(out, 5);
    std::vector<float> y(rows * out);
    ops::Linear(x.data(), rows, in, ldx, w.data(), out, b.data(), y.data(), out);
    std::vector<double> want(rows * out);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double acc = b[o];
        for (int64_t i = 0; i < in; ++i) acc += double(x[r * ldx + i]) * w[o * in + i];
        want[r * out + o] = acc;
      }
    }
    // 13-term fp32 dot products of N(0,1) values: rounding ~1e-6 of |terms| ~ 4.
    EXPECT_TRUE(AllClose(y, want, 1e-5, 1e-5)) << rows;
  }
}

std::vector<double> NaiveMlp(const std::vector<float>& z, int64_t S, const MlpWeights& w,
                             bool gelu) {
  const int64_t H = w.hidden, I = w.inner;
  std::vector<double> out(S * H, 0.0);
  std::vector<double> g(I);
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t i = 0; i < I; ++i) {
      double u1 = 0, u2 = 0;
      for (int64_t c = 0; c < H; ++c) {
        u1 += double(w.w12[i * H + c]) * z[t * H + c];
        u2 += double(w.w12[(I + i) * H + c]) * z[t * H + c];
      }
      if (gelu) u1 = 0.5 * u1 * (1 + std::erf(u1 / std::sqrt(2.0)));
      g[i] = u1 * u2;
    }
    for (int64_t c = 0; c < H; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < I; ++i) acc += double(w.w3[c * I + i]) * g[i];
      out[t * H + c] = acc;
    }
  }
  return out;
}

TEST(GatedMlpTest, GeluAndBilinear) {
  ops::ThreadPool pool(2);
  MlpWeights w;
  w.hidden = 24;
  w.inner = 40;
  w.w12 = RandomVector(2 * 40 * 24, 6, 0.2f);
  w.w3 = RandomVector(24 * 40, 7, 0.15f);
  MlpWorkspace ws;
  for (int64_t S : kOddLengths) {
    auto z = RandomVector(S * 24, 8);
    std::vector<float> out(S * 24);
    for (bool gelu : {true, false}) {
      GatedMlp(z.data(), S, w, gelu ? GateActivation::kGeluErf : GateActivation::kIdentity,
               out.data(), ws, pool);
      // Outputs are O(1); fp32 sums of 24 and 40 terms: ~1e-6 relative.
      EXPECT_TRUE(AllClose(out, NaiveMlp(z, S, w, gelu), 1e-5, 1e-5))
          << "S=" << S << " gelu=" << gelu;
    }
  }
}

TEST(LmHeadTest, FusedLogProbsMatchFullLogSoftmax) {
  ops::ThreadPool pool(2);
  const int64_t H = 16, V = 512;
  auto E = RandomVector(V * H, 9);
  auto scale = RandomVector(H, 10);
  // 300 positions cross the 256-row chunk boundary.
  for (int64_t S : {int64_t{1}, int64_t{9}, int64_t{81}, int64_t{300}}) {
    auto x = RandomVector(S * H, 11);
    std::vector<int32_t> tokens(S);
    for (int64_t t = 0; t < S; ++t) tokens[t] = static_cast<int32_t>((t * 37 + 5) % V);
    std::vector<float> lp, logits;
    LmHead(x.data(), S, H, scale.data(), 1e-6f, E.data(), V, tokens, {&lp, &logits, nullptr}, pool);
    std::vector<float> lp_only;
    LmHead(x.data(), S, H, scale.data(), 1e-6f, E.data(), V, tokens, {&lp_only, nullptr, nullptr},
           pool);
    EXPECT_EQ(lp, lp_only);  // the fused path does not depend on keeping the logits
    auto normed = NaiveRmsNorm(x, S, H, scale, 1e-6);
    std::vector<double> want_logits(S * V), want_lp(S - 1);
    for (int64_t t = 0; t < S; ++t) {
      double mx = -1e300;
      for (int64_t v = 0; v < V; ++v) {
        double acc = 0;
        for (int64_t c = 0; c < H; ++c) acc += normed[t * H + c] * E[v * H + c];
        want_logits[t * V + v] = acc;
        mx = std::max(mx, acc);
      }
      if (t + 1 < S) {
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(want_logits[t * V + v] - mx);
        want_lp[t] = want_logits[t * V + tokens[t + 1]] - mx - std::log(sum);
      }
    }
    // Logits ~ N(0, 16): fp32 rounding of 16-term dots ≈ 1e-6·|x|.
    EXPECT_TRUE(AllClose(logits, want_logits, 2e-5, 1e-5)) << S;
    EXPECT_TRUE(AllClose(lp, want_lp, 2e-5, 1e-5)) << S;
  }
}

}  // namespace
}  // namespace evo2::cpu
