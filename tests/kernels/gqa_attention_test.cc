// Kernel tests for grouped-query attention (kernels/attention.cuh LaunchCausalGqaAttention) and
// its input preparation (kernels/rotary_gqa.cuh), against float64 references on fresh random
// inputs: GQA ratios 1, 2, 4 (and multi-query), head dims 16/32/64/128, odd lengths (no multiple
// of the 64-row tiles), outputs poisoned with NaN so an unwritten element fails.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/attention.cuh"
#include "kernels/rotary_gqa.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class GqaKernelTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(GqaKernelTest, ElementTypes);

template <typename T>
const char* TypeName() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

// q [B, heads, S, d], k/v [B, kv_heads, S, d] → out [B, S, heads·d], in float64.
std::vector<double> ReferenceGqa(const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, int batch, int heads, int kv_heads,
                                 int seq, int d) {
  std::vector<double> out(static_cast<size_t>(batch) * seq * heads * d);
  std::vector<double> sc(seq);
  const int group = heads / kv_heads;
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const size_t qb = (static_cast<size_t>(b) * heads + h) * seq * d;
      const size_t kb = (static_cast<size_t>(b) * kv_heads + h / group) * seq * d;
      for (int t = 0; t < seq; ++t) {
        double m = -INFINITY;
        for (int u = 0; u <= t; ++u) {
          double s = 0;
          for (int i = 0; i < d; ++i) s += double(q[qb + t * d + i]) * k[kb + u * d + i];
          sc[u] = s / std::sqrt(double(d));
          m = std::max(m, sc[u]);
        }
        double l = 0;
        for (int u = 0; u <= t; ++u) l += (sc[u] = std::exp(sc[u] - m));
        for (int i = 0; i < d; ++i) {
          double o = 0;
          for (int u = 0; u <= t; ++u) o += sc[u] * v[kb + u * d + i];
          out[((static_cast<size_t>(b) * seq + t) * heads + h) * d + i] = o / l;
        }
      }
    }
  }
  return out;
}

template <typename T>
void CheckGqa(int batch, int heads, int kv_heads, int seq, int d, std::mt19937& rng,
              AttentionVariant variant = AttentionVariant::kMmaPipelined) {
  const size_t nq = static_cast<size_t>(batch) * heads * seq * d;
  const size_t nkv = static_cast<size_t>(batch) * kv_heads * seq * d;
  // Scores of O(1-3) like real attention logits.
  auto q = RandomValues<T>(nq, 1.5f, rng);
  auto k = RandomValues<T>(nkv, 1.f, rng);
  auto v = RandomValues<T>(nkv, 1.f, rng);
  DeviceBuffer dq = Upload<T>(q), dk = Upload<T>(k), dv = Upload<T>(v), dout = Poisoned<T>(nq);
  const absl::Status s =
      LaunchCausalGqaAttention<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), dout.as<T>(), batch, heads,
                                  kv_heads, seq, d, nullptr, variant);
  ASSERT_TRUE(s.ok()) << s;
  const double rel =
      RelL2(Download<T>(dout, nq), ReferenceGqa(q, k, v, batch, heads, kv_heads, seq, d));
  if (!(rel <= Tolerance<T>()))  // the grep-able line with the number, besides gtest's report
    std::printf("gqa %s B=%d heads=%d kv=%d S=%d d=%d: rel-L2 error %.2e\n", TypeName<T>(), batch,
                heads, kv_heads, seq, d, rel);
  // bf16: P rounded to bf16 before P·V (as flash attention does) and the bf16 output: the
  // generic 1e-2 (gpu_test_util.h).
  EXPECT_LE(rel, Tolerance<T>()) << "B=" << batch << " heads=" << heads << " kv=" << kv_heads
                                 << " S=" << seq << " d=" << d;
}

TYPED_TEST(GqaKernelTest, GqaAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  for (int d : {16, 32, 64, 128}) {
    for (int ratio : {1, 2, 4}) {
      for (int seq : {1, 17, 130}) CheckGqa<TypeParam>(2, 2 * ratio, 2, seq, d, rng);
    }
  }
  // Multi-query (one KV head) over several key tiles.
  CheckGqa<TypeParam>(1, 4, 1, 203, 64, rng);
}

TEST(GqaKernelV2Test, GqaAttentionMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(32);
  for (int d : {16, 128})
    CheckGqa<__nv_bfloat16>(1, 8, 2, 100, d, rng, AttentionVariant::kMmaLdmatrix);
}

TEST(GqaValidationTest, RefusesKvHeadsThatDoNotDivide) {
  float* p = reinterpret_cast<float*>(256);
  EXPECT_EQ(LaunchCausalGqaAttention<float>(p, p, p, p, 1, 6, 4, 8, 32, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchCausalGqaAttention<float>(p, p, p, p, 1, 4, 0, 8, 32, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchCausalGqaAttention<float>(p, p, p, p, 1, 4, 2, 8, 48, nullptr).code(),
            absl::StatusCode::kUnimplemented);
}

// The split + RoPE of a fused [q heads | k heads | v heads] projection, natively (K/V with
// kv_heads heads) and with repeated KV heads.
TYPED_TEST(GqaKernelTest, RotarySplitMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(33);
  for (bool repeat : {false, true}) {
    const int batch = 2, seq = 37, heads = 8, kv_heads = 2, d = 16, group = heads / kv_heads;
    const int ld = (heads + 2 * kv_heads) * d;
    const int kv_out = repeat ? heads : kv_heads;
    auto qkv = RandomValues<T>(static_cast<size_t>(batch) * seq * ld, 1.f, rng);
    // A llama3-like table: geometric frequencies, the low ones divided by 8.
    std::vector<float> inv_freq(d / 2);
    for (int i = 0; i < d / 2; ++i)
      inv_freq[i] = std::pow(5e5f, -2.f * i / d) / (i > 3 ? 8.f : 1.f);
    const size_t nq = static_cast<size_t>(batch) * heads * seq * d;
    const size_t nkv = static_cast<size_t>(batch) * kv_out * seq * d;
    DeviceBuffer dqkv = Upload<T>(qkv), df = Upload<float>(inv_freq);
    DeviceBuffer dq = Poisoned<T>(nq), dk = Poisoned<T>(nkv), dv = Poisoned<T>(nkv);
    const absl::Status s = LaunchRotaryGqaSplit<T>(
        dqkv.as<T>(), df.as<float>(), dq.as<T>(), dk.as<T>(), dv.as<T>(), batch, seq,
        {.heads = heads, .kv_heads = kv_heads, .head_dim = d}, repeat, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    std::vector<double> wq(nq), wk(nkv), wv(nkv);
    auto rotate = [&](const float* src, int t, std::vector<double>& dst, size_t at) {
      for (int i = 0; i < d / 2; ++i) {
        const double th = double(float(t) * inv_freq[i]);  // fp32 angle, as the kernel forms it
        const double c = std::cos(th), sn = std::sin(th);
        dst[at + i] = src[i] * c - src[i + d / 2] * sn;
        dst[at + i + d / 2] = src[i] * sn + src[i + d / 2] * c;
      }
    };
    for (int b = 0; b < batch; ++b) {
      for (int t = 0; t < seq; ++t) {
        const float* row = &qkv[(static_cast<size_t>(b) * seq + t) * ld];
        for (int h = 0; h < heads; ++h)
          rotate(row + h * d, t, wq, ((static_cast<size_t>(b) * heads + h) * seq + t) * d);
        for (int o = 0; o < kv_out; ++o) {
          const int g = repeat ? o / group : o;
          const size_t at = ((static_cast<size_t>(b) * kv_out + o) * seq + t) * d;
          rotate(row + (heads + g) * d, t, wk, at);
          for (int i = 0; i < d; ++i) wv[at + i] = row[(heads + kv_heads + g) * d + i];
        }
      }
    }
    // bf16: cos/sin and the output rounded to bf16 (2^-9 relative each): 1e-2.
    EXPECT_LE(RelL2(Download<T>(dq, nq), wq), Tolerance<T>()) << "repeat=" << repeat;
    EXPECT_LE(RelL2(Download<T>(dk, nkv), wk), Tolerance<T>()) << "repeat=" << repeat;
    EXPECT_LE(RelL2(Download<T>(dv, nkv), wv), 0.0) << "repeat=" << repeat;  // v is copied
  }
}

}  // namespace
}  // namespace evo2::kernels::testing
