// The Hyena decode state around a multi-token continuation (kernels/hyena_extend_state.cuh):
//   rings   a history of S rows made into a ring (LaunchRingFromRows), unrolled into the n rows
//           before position S (LaunchRingToRows), then continued by L more rows
//           (LaunchRingFromRowsAt, with and without the halo in front) must equal the ring of the
//           whole S + L history, bit for bit (the kernels only move values). S from 1 (shorter
//           than the ring: zeros before position 0) to past several ring turns; L shorter and
//           longer than n; n = 2, 6, 127 (featurizer, hcs, hcm); odd widths.
//   modal   the [16, H] ↔ [H, 16] transposition exactly; the advance s ← p^L ⊙ s + e against a
//           float64 recurrence over S + L steps, with e from LaunchHyenaLongEndState and s from
//           LaunchHyenaModalState (the decoder's own prefill derivation): fp32 rel-L2 ≤ 1e-5
//           (three fp32 reductions of ≤ a few hundred terms each, ~1e-7 per term, the same
//           order as gpu_test_util.h's fp32 bound with room for the longer sums).
#include "kernels/hyena_extend_state.cuh"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"
#include "kernels/hyena_state.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

constexpr int kModes = kHyenaLongModes;

template <typename T>
class HyenaExtendRingTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(HyenaExtendRingTest, ElementTypes);

TYPED_TEST(HyenaExtendRingTest, ContinuedRingEqualsRingOfWholeHistory) {
  using T = TypeParam;
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  const int64_t W = 37;
  for (int64_t n : {2, 6, 127}) {
    for (int64_t S : {1, 5, 128, 301}) {
      for (int64_t L : {1, 3, 131}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n << " S=" << S << " L=" << L);
        const std::vector<float> history =
            RandomValues<T>(static_cast<size_t>((S + L) * W), 1.f, rng);
        DeviceBuffer all = Upload<T>(history);  // [S + L, W]
        DeviceBuffer want = Poisoned<T>(static_cast<size_t>(n * W));
        ASSERT_TRUE(LaunchRingFromRows<T>(all.as<T>(), W, S + L, W, n, want.as<T>(), nullptr).ok());
        // The prefix's ring, unrolled into the n rows before position S.
        DeviceBuffer ring = Poisoned<T>(static_cast<size_t>(n * W));
        ASSERT_TRUE(LaunchRingFromRows<T>(all.as<T>(), W, S, W, n, ring.as<T>(), nullptr).ok());
        DeviceBuffer halo = Poisoned<T>(static_cast<size_t>((n + L) * W));  // [n + L, W]
        ASSERT_TRUE(LaunchRingToRows<T>(ring.as<T>(), n, W, S, halo.as<T>(), W, nullptr).ok());
        const std::vector<float> rows = Download<T>(halo, static_cast<size_t>(n * W));
        for (int64_t j = 0; j < n; ++j) {
          const int64_t tau = S - n + j;
          for (int64_t c = 0; c < W; ++c) {
            const float expect = tau >= 0 ? history[static_cast<size_t>(tau * W + c)] : 0.f;
            ASSERT_EQ(rows[static_cast<size_t>(j * W + c)], expect) << "halo row " << j;
          }
        }
        // Halo + the L new rows, row 0 at position S − n (possibly < 0).
        ASSERT_EQ(cudaMemcpy(halo.as<T>() + n * W, all.as<T>() + S * W,
                             static_cast<size_t>(L * W) * sizeof(T), cudaMemcpyDeviceToDevice),
                  cudaSuccess);
        DeviceBuffer with_halo = Upload<T>(Download<T>(ring, static_cast<size_t>(n * W)));
        ASSERT_TRUE(
            LaunchRingFromRowsAt<T>(halo.as<T>(), W, n + L, W, n, S - n, with_halo.as<T>(), nullptr)
                .ok());
        // The L new rows alone (slots they do not reach keep the prefix's rows).
        DeviceBuffer alone = Upload<T>(Download<T>(ring, static_cast<size_t>(n * W)));
        ASSERT_TRUE(
            LaunchRingFromRowsAt<T>(all.as<T>() + S * W, W, L, W, n, S, alone.as<T>(), nullptr)
                .ok());
        const auto w = Download<T>(want, static_cast<size_t>(n * W));
        EXPECT_EQ(Download<T>(with_halo, static_cast<size_t>(n * W)), w);
        EXPECT_EQ(Download<T>(alone, static_cast<size_t>(n * W)), w);
      }
    }
  }
}

TEST(HyenaExtendModalTest, TransposeAndAdvanceEqualWholeRecurrence) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(9);
  const int64_t H = 45;
  std::uniform_real_distribution<float> u(std::log(1e-6f), std::log(5.f));
  std::vector<float> log_poles(static_cast<size_t>(H * kModes));
  for (float& l : log_poles) l = -std::exp(u(rng));
  DeviceBuffer lp = Upload<float>(log_poles);
  for (int64_t S : {1, 7, 300}) {
    for (int64_t L : {1, 64, 257}) {
      SCOPED_TRACE(::testing::Message() << "S=" << S << " L=" << L);
      const std::vector<float> a = RandomValues<float>(static_cast<size_t>((S + L) * H), 1.f, rng);
      DeviceBuffer a_dev = Upload<float>(a);                                  // [S + L, H]
      DeviceBuffer state = Poisoned<float>(static_cast<size_t>(kModes * H));  // [16, H]
      ASSERT_TRUE(LaunchHyenaModalState<float>(a_dev.as<float>(), S, H, lp.as<float>(),
                                               state.as<float>(), nullptr)
                      .ok());
      // Transposition: exact.
      DeviceBuffer cm = Poisoned<float>(static_cast<size_t>(kModes * H));  // [H, 16]
      ASSERT_TRUE(LaunchModalStateChannelMajor(state.as<float>(), H, cm.as<float>(), nullptr).ok());
      const auto s16 = Download<float>(state, static_cast<size_t>(kModes * H));
      const auto sh = Download<float>(cm, static_cast<size_t>(kModes * H));
      for (int64_t c = 0; c < H; ++c)
        for (int m = 0; m < kModes; ++m)
          ASSERT_EQ(sh[static_cast<size_t>(c * kModes + m)], s16[static_cast<size_t>(m * H + c)]);
      // Advance by the next L rows' zero-state end state.
      DeviceBuffer end = Poisoned<float>(static_cast<size_t>(kModes * H));  // [H, 16]
      const size_t ws_bytes = HyenaLongEndStateWorkspaceBytes(1, L, H);
      auto ws = DeviceBuffer::Allocate(ws_bytes);
      ASSERT_TRUE(ws.ok());
      ASSERT_TRUE(LaunchHyenaLongEndState<float>(a_dev.as<float>() + S * H, lp.as<float>(),
                                                 end.as<float>(), ws->get(), ws_bytes, 1, L, H,
                                                 nullptr)
                      .ok());
      ASSERT_TRUE(
          LaunchModalStateAdvance(state.as<float>(), end.as<float>(), lp.as<float>(), L, H, nullptr)
              .ok());
      // float64: s ← p·s + a over all S + L rows from zero.
      std::vector<double> want(static_cast<size_t>(kModes * H));
      for (int64_t c = 0; c < H; ++c) {
        for (int m = 0; m < kModes; ++m) {
          const double p =
              std::exp(static_cast<double>(log_poles[static_cast<size_t>(c * kModes + m)]));
          double s = 0;
          for (int64_t t = 0; t < S + L; ++t) s = p * s + a[static_cast<size_t>(t * H + c)];
          want[static_cast<size_t>(m * H + c)] = s;
        }
      }
      const double err = RelL2(Download<float>(state, static_cast<size_t>(kModes * H)), want);
      std::printf("[fp32] modal advance S=%lld L=%lld: rel-L2 vs float64 %.2e\n",
                  static_cast<long long>(S), static_cast<long long>(L), err);
      EXPECT_LE(err, 1e-5);
    }
  }
}

TEST(HyenaExtendStateTest, BadShapesAreRefused) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buf = Poisoned<float>(64);
  float* p = buf.as<float>();
  EXPECT_FALSE(LaunchRingToRows<float>(p, 0, 4, 1, p, 4, nullptr).ok());
  EXPECT_FALSE(LaunchRingToRows<float>(p, 2, 4, -1, p, 4, nullptr).ok());
  EXPECT_FALSE(LaunchRingToRows<float>(p, 2, 4, 1, p, 3, nullptr).ok());
  EXPECT_FALSE(LaunchRingFromRowsAt<float>(nullptr, 4, 2, 4, 2, 0, p, nullptr).ok());
  EXPECT_FALSE(LaunchModalStateChannelMajor(p, 0, p, nullptr).ok());
  EXPECT_FALSE(LaunchModalStateAdvance(p, p, p, -1, 2, nullptr).ok());
}

}  // namespace
}  // namespace evo2::kernels::testing
