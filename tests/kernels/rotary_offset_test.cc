// Rotary at an offset (LaunchRotaryQkvSplit's first_position / position_stride, context
// parallelism: a rank's zigzag chunks r and 2CP−1−r as a batch of 2 at their absolute positions)
// against the whole-sequence call: the same fp32 angle from the same integer position, so the
// rank's Q, K, V must equal the whole sequence's rows bit for bit.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/rotary.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class RotaryOffsetTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(RotaryOffsetTest, ElementTypes);

TYPED_TEST(RotaryOffsetTest, ZigzagChunksEqualWholeSequenceRows) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(51);
  const int heads = 3, d = 32;
  std::vector<float> inv_freq(d / 2);
  for (int i = 0; i < d / 2; ++i) inv_freq[i] = std::pow(1e6f, -2.f * i / d);
  DeviceBuffer df = Upload<float>(inv_freq);
  int mismatches = 0, cases = 0;
  for (float scale : {1.f, 16.f}) {
    for (int cp : {1, 2, 3}) {
      for (int lc : {1, 37}) {
        const int S = 2 * cp * lc, width = 3 * heads * d;
        auto qkv = RandomValues<T>(static_cast<size_t>(S) * width, 1.f, rng);  // [1, S, 3·heads·d]
        const size_t n = static_cast<size_t>(heads) * S * d;
        DeviceBuffer dqkv = Upload<T>(qkv), wq = Poisoned<T>(n), wk = Poisoned<T>(n),
                     wv = Poisoned<T>(n);
        ASSERT_TRUE(LaunchRotaryQkvSplit<T>(dqkv.as<T>(), df.as<float>(), scale, wq.as<T>(),
                                            wk.as<T>(), wv.as<T>(), 1, S, heads, d, nullptr)
                        .ok());
        const std::vector<std::vector<float>> whole = {Download<T>(wq, n), Download<T>(wk, n),
                                                       Download<T>(wv, n)};
        for (int r = 0; r < cp; ++r) {
          const int chunks[2] = {r, 2 * cp - 1 - r};
          std::vector<float> rank_qkv(static_cast<size_t>(2) * lc * width);  // [2, Lc, 3·heads·d]
          for (int j = 0; j < 2; ++j)
            std::copy_n(qkv.begin() + static_cast<size_t>(chunks[j]) * lc * width, lc * width,
                        rank_qkv.begin() + static_cast<size_t>(j) * lc * width);
          const size_t m = static_cast<size_t>(2) * heads * lc * d;
          DeviceBuffer drq = Upload<T>(rank_qkv), rq = Poisoned<T>(m), rk = Poisoned<T>(m),
                       rv = Poisoned<T>(m);
          const absl::Status st = LaunchRotaryQkvSplit<T>(
              drq.as<T>(), df.as<float>(), scale, rq.as<T>(), rk.as<T>(), rv.as<T>(), 2, lc, heads,
              d, nullptr, /*first_position=*/int64_t{r} * lc,
              /*position_stride=*/int64_t{2 * cp - 1 - 2 * r} * lc);
          ASSERT_TRUE(st.ok()) << st;
          const std::vector<std::vector<float>> got = {Download<T>(rq, m), Download<T>(rk, m),
                                                       Download<T>(rv, m)};
          for (int x = 0; x < 3; ++x) {
            for (int j = 0; j < 2; ++j) {
              for (int h = 0; h < heads; ++h) {
                for (int t = 0; t < lc; ++t) {
                  for (int i = 0; i < d; ++i) {
                    const float g = got[x][((static_cast<size_t>(j) * heads + h) * lc + t) * d + i];
                    const float w =
                        whole[x][(static_cast<size_t>(h) * S + chunks[j] * lc + t) * d + i];
                    if (!(g == w)) ++mismatches;  // NaN (unwritten) never equals
                  }
                }
              }
            }
          }
          ++cases;
        }
      }
    }
  }
  std::printf("rotary-offset: %d rank cases, %d elements differ from the whole sequence's\n", cases,
              mismatches);
  EXPECT_EQ(mismatches, 0);
}

TEST(RotaryOffsetValidationTest, RefusesNegativePositions) {
  SKIP_WITHOUT_GPU();
  float* p = reinterpret_cast<float*>(256);
  // Batch element 1 would start at 4 − 8 = −4.
  const absl::Status st =
      LaunchRotaryQkvSplit<float>(p, p, 1.f, p, p, p, 2, 3, 1, 8, nullptr, 4, -8);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("positions -4"), std::string::npos) << st;
}

}  // namespace
}  // namespace evo2::kernels::testing
