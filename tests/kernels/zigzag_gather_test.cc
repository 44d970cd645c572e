// The zigzag → natural permutation of all-gathered K/V blocks (kernels/zigzag_gather.cuh): an
// exact copy, checked element for element against the placement rule on odd shapes (CP = 1, 2,
// 3; Lc = 1, 5, 64; rows of 16-byte multiples and not, so both copy paths run).
#include "kernels/zigzag_gather.cuh"

#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class ZigzagGatherTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(ZigzagGatherTest, ElementTypes);

TYPED_TEST(ZigzagGatherTest, GatheredBlocksLandInNaturalOrder) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(41);
  int cases = 0, mismatches = 0;
  for (int cp : {1, 2, 3}) {
    for (int lc : {1, 5, 64}) {
      for (int d : {7, 32, 128}) {  // d = 7: rows not a 16-byte multiple (element copies)
        const int heads = 3;
        const size_t n = static_cast<size_t>(cp) * 2 * heads * lc * d;
        const auto gathered = RandomValues<T>(n, 1.f, rng);
        DeviceBuffer dg = Upload<T>(gathered), dn = Poisoned<T>(n);
        const absl::Status st =
            LaunchZigzagToNatural<T>(dg.as<T>(), dn.as<T>(), cp, heads, lc, d, nullptr);
        ASSERT_TRUE(st.ok()) << st;
        const std::vector<float> got = Download<T>(dn, n);
        int bad = 0;
        const int seq = 2 * cp * lc;
        for (int h = 0; h < heads; ++h) {
          for (int pos = 0; pos < seq; ++pos) {
            const int k = pos / lc, t = pos % lc;
            const int owner = k < cp ? k : 2 * cp - 1 - k, slot = k < cp ? 0 : 1;
            for (int i = 0; i < d; ++i) {
              const float want =
                  gathered[((((static_cast<size_t>(owner) * 2 + slot) * heads + h) * lc + t) * d) +
                           i];
              // Bit-exact copy; NaN (an unwritten, poisoned element) never equals.
              if (!(got[(static_cast<size_t>(h) * seq + pos) * d + i] == want)) ++bad;
            }
          }
        }
        EXPECT_EQ(bad, 0) << "CP=" << cp << " Lc=" << lc << " d=" << d;
        mismatches += bad;
        ++cases;
      }
    }
  }
  std::printf("zigzag-gather: %d cases, %d mismatched elements\n", cases, mismatches);
}

TEST(ZigzagGatherValidationTest, RefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  float* p = reinterpret_cast<float*>(256);
  EXPECT_EQ(LaunchZigzagToNatural<float>(p, p, 0, 2, 4, 8, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(LaunchZigzagToNatural<float>(nullptr, p, 1, 2, 4, 8, nullptr).ok());
  EXPECT_TRUE(LaunchZigzagToNatural<float>(p, p, 1, 2, 0, 8, nullptr).ok());  // nothing to copy
}

}  // namespace
}  // namespace evo2::kernels::testing
