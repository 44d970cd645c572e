// Rotary + causal attention against a naive double implementation (docs/spec/model.md §8).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "op_test_util.h"
#include "ops/attention.h"
#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::ops {
namespace {

using evo2::testing::AllClose;
using evo2::testing::RandomVector;

TEST(RotaryTest, DefaultInvFreqIsBasePower) {
  auto f = DefaultInvFreq(10000.0, 32);
  ASSERT_EQ(f.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    EXPECT_NEAR(f[i], std::pow(10000.0, -2.0 * i / 32),
                1e-7 * std::pow(10000.0, -2.0 * i / 32) + 1e-12);
  }
}

TEST(RotaryTest, AngleFormedInFp32LikeVortex) {
  std::vector<float> inv = {1.0f, 0.37f};
  auto t = MakeRotaryTable(inv.data(), 2, 5000, 128.0);
  const int64_t p = 4999;
  const float angle = (static_cast<float>(p) / 128.0f) * 0.37f;  // fp32 at every step
  EXPECT_EQ(t.cos[p * 2 + 1], static_cast<float>(std::cos(double(angle))));
  EXPECT_EQ(t.sin[p * 2 + 1], static_cast<float>(std::sin(double(angle))));
}

TEST(CausalAttentionTest, MatchesNaiveWithPerHeadRowOrderAndRotary) {
  ThreadPool pool(2);
  const int64_t heads = 3, d = 8, H = heads * d;
  std::vector<float> inv = DefaultInvFreq(10000.0, d);
  // 300 > the 128-row query block: several blocks and a partial last one.
  for (int64_t S : {int64_t{1}, int64_t{9}, int64_t{81}, int64_t{300}}) {
    for (double scale : {1.0, 16.0}) {
      auto qkv = RandomVector(S * 3 * H, 41);
      const auto orig = qkv;
      auto table = MakeRotaryTable(inv.data(), d / 2, S, scale);
      std::vector<float> out(S * H);
      CausalAttention(qkv.data(), S, heads, d, table, out.data(), pool);

      // Naive: rotate (angles from the same fp32 formula), softmax in double.
      auto rot = [&](int64_t t, int64_t col, int64_t i) -> double {
        const int64_t h = d / 2;
        const float pos = scale == 1.0 ? float(t) : float(t) / float(scale);
        const int64_t ii = i % h;
        const double ang = double(pos * inv[ii]);
        const double a = orig[t * 3 * H + col + ii], b = orig[t * 3 * H + col + ii + h];
        return i < h ? a * std::cos(ang) - b * std::sin(ang)
                     : a * std::sin(ang) + b * std::cos(ang);
      };
      std::vector<double> want(S * H, 0.0);
      for (int64_t hd = 0; hd < heads; ++hd) {
        const int64_t qc = hd * 3 * d, kc = qc + d, vc = qc + 2 * d;
        for (int64_t i = 0; i < S; ++i) {
          std::vector<double> s(i + 1);
          double mx = -1e300;
          for (int64_t j = 0; j <= i; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < d; ++e) dot += rot(i, qc, e) * rot(j, kc, e);
            s[j] = dot / std::sqrt(double(d));
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (auto& v : s) sum += (v = std::exp(v - mx));
          for (int64_t e = 0; e < d; ++e) {
            double acc = 0;
            for (int64_t j = 0; j <= i; ++j) acc += s[j] * orig[j * 3 * H + vc + e];
            want[i * H + hd * d + e] = acc / sum;
          }
        }
      }
      // fp32 scores over 8-dim dots and a ~2-ulp exp: ~1e-6 relative on O(1) outputs.
      EXPECT_TRUE(AllClose(out, want, 1e-5, 1e-5)) << "S=" << S << " scale=" << scale;
    }
  }
}

}  // namespace
}  // namespace evo2::ops
