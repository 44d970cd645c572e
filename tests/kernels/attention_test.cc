// Kernel tests for the attention mixer pieces (docs/spec/model.md §8): the rotary
// Q/K/V split and the causal flash attention, against float64 references, on odd lengths
// (1, 17, 100, 130: no multiple of the 64-row tiles) and every compiled head dim.
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/attention.cuh"
#include "kernels/rotary.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class AttentionKernelTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(AttentionKernelTest, ElementTypes);

TYPED_TEST(AttentionKernelTest, RotarySplitMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(20);
  const int batch = 2, seq = 37, heads = 3, d = 32;
  const float scale = 16.f;  // interpolated positions (case b divides by 16)
  const size_t n = static_cast<size_t>(batch) * seq * heads * d;
  auto qkv = RandomValues<T>(3 * n, 1.f, rng);
  std::vector<float> inv_freq(d / 2);
  for (int i = 0; i < d / 2; ++i) inv_freq[i] = std::pow(1e6f, -2.f * i / d);
  DeviceBuffer dqkv = Upload<T>(qkv), df = Upload<float>(inv_freq);
  DeviceBuffer dq = Poisoned<T>(n), dk = Poisoned<T>(n), dv = Poisoned<T>(n);
  ASSERT_TRUE(LaunchRotaryQkvSplit<T>(dqkv.as<T>(), df.as<float>(), scale, dq.as<T>(), dk.as<T>(),
                                      dv.as<T>(), batch, seq, heads, d, nullptr)
                  .ok());
  std::vector<double> wq(n), wk(n), wv(n);
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < seq; ++t) {
      for (int h = 0; h < heads; ++h) {
        const float* src = &qkv[(static_cast<size_t>(b) * seq + t) * 3 * heads * d + h * 3 * d];
        const size_t dst = ((static_cast<size_t>(b) * heads + h) * seq + t) * d;
        for (int i = 0; i < d / 2; ++i) {
          const double th = (double(t) / scale) * inv_freq[i];
          const double c = std::cos(th), s = std::sin(th);
          wq[dst + i] = src[i] * c - src[i + d / 2] * s;
          wq[dst + i + d / 2] = src[i] * s + src[i + d / 2] * c;
          wk[dst + i] = src[d + i] * c - src[d + i + d / 2] * s;
          wk[dst + i + d / 2] = src[d + i] * s + src[d + i + d / 2] * c;
          wv[dst + i] = src[2 * d + i];
          wv[dst + i + d / 2] = src[2 * d + i + d / 2];
        }
      }
    }
  }
  EXPECT_LE(RelL2(Download<T>(dq, n), wq), Tolerance<T>());
  EXPECT_LE(RelL2(Download<T>(dk, n), wk), Tolerance<T>());
  EXPECT_LE(RelL2(Download<T>(dv, n), wv), 0.0);  // v is copied exactly
}

template <typename T>
void CheckAttention(int batch, int heads, int seq, int d, std::mt19937& rng,
                    AttentionVariant variant = AttentionVariant::kMmaPipelined) {
  const size_t n = static_cast<size_t>(batch) * heads * seq * d;
  // Scores of O(1-3) like real attention logits: q·k/√d with unit-variance entries.
  auto q = RandomValues<T>(n, 1.5f, rng);
  auto k = RandomValues<T>(n, 1.f, rng);
  auto v = RandomValues<T>(n, 1.f, rng);
  DeviceBuffer dq = Upload<T>(q), dk = Upload<T>(k), dv = Upload<T>(v), dout = Poisoned<T>(n);
  ASSERT_TRUE(LaunchCausalAttention<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), dout.as<T>(), batch,
                                       heads, seq, d, nullptr, variant)
                  .ok());
  std::vector<double> want(n);
  std::vector<double> sc(seq);
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const size_t base = (static_cast<size_t>(b) * heads + h) * seq * d;
      for (int t = 0; t < seq; ++t) {
        double m = -INFINITY;
        for (int u = 0; u <= t; ++u) {
          double s = 0;
          for (int i = 0; i < d; ++i) s += double(q[base + t * d + i]) * k[base + u * d + i];
          sc[u] = s / std::sqrt(double(d));
          m = std::max(m, sc[u]);
        }
        double l = 0;
        for (int u = 0; u <= t; ++u) l += (sc[u] = std::exp(sc[u] - m));
        for (int i = 0; i < d; ++i) {
          double o = 0;
          for (int u = 0; u <= t; ++u) o += sc[u] * v[base + u * d + i];
          want[((static_cast<size_t>(b) * seq + t) * heads + h) * d + i] = o / l;
        }
      }
    }
  }
  // bf16: P is rounded to bf16 before P·V (as flash-attention does), ~2^-9 relative per weight,
  // plus the bf16 output rounding: within the generic 1e-2.
  EXPECT_LE(RelL2(Download<T>(dout, n), want), Tolerance<T>())
      << "B=" << batch << " heads=" << heads << " S=" << seq << " d=" << d
      << " variant=" << static_cast<int>(variant);
}

TYPED_TEST(AttentionKernelTest, CausalAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  for (int d : {32, 64, 128}) {
    for (int seq : {1, 17, 100, 130}) CheckAttention<TypeParam>(2, 2, seq, d, rng);
  }
  // Many key tiles: each double-buffer stage is refilled several times.
  if constexpr (std::is_same_v<TypeParam, __nv_bfloat16>) {
    for (int d : {32, 128}) CheckAttention<TypeParam>(1, 1, 459, d, rng);
  }
}

// v2 stays selectable (EVO2_CUDA_ATTENTION=v2, the fallback of bench/gpu.sh); it must stay correct.
TEST(AttentionKernelV2Test, CausalAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(23);
  for (int d : {32, 64, 128}) {
    for (int seq : {1, 17, 100, 130}) {
      CheckAttention<__nv_bfloat16>(2, 2, seq, d, rng, AttentionVariant::kMmaLdmatrix);
    }
  }
}

TEST(AttentionValidationTest, RefusesUncompiledHeadDims) {
  float* p = reinterpret_cast<float*>(256);
  EXPECT_EQ(LaunchCausalAttention<float>(p, p, p, p, 1, 1, 8, 48, nullptr).code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace evo2::kernels::testing
