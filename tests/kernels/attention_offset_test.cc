// Causal attention of a query block at an offset (LaunchCausalGqaAttentionAtOffset,
// docs/parallelism.md §4): against a float64 reference on fresh random inputs for
// Lq ∈ {1, 17, 64, 129}, q0 ∈ {0, 5, 300}, Lkv = q0 + Lq and Lkv > q0 + Lq (the extra keys are
// NaN, so reading them fails the test), every compiled head dim (16, 32 = the golden models',
// 64, 128 = 7B/40B), fp32 and bf16; and the zigzag chunks of a sequence against the whole-sequence
// kernel, which must agree bit for bit (each query row sees the same key tiles in the same order).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/attention.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class AttentionOffsetTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(AttentionOffsetTest, ElementTypes);

template <typename T>
const char* TypeName() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

struct OffsetCase {
  int q_len, q_offset, extra_keys, head_dim, heads, kv_heads;
};

template <typename T>
void CheckOffsetAttention(const OffsetCase& cs, std::mt19937& rng, double& worst) {
  const int B = 2, Lq = cs.q_len, q0 = cs.q_offset, d = cs.head_dim;
  const int heads = cs.heads, kvh = cs.kv_heads;
  const int Lkv = q0 + Lq + cs.extra_keys;
  const size_t nq = static_cast<size_t>(B) * heads * Lq * d;
  const size_t nkv = static_cast<size_t>(B) * kvh * Lkv * d;
  // Scores of O(1-3) like real attention logits: q·k/√d with unit-variance entries.
  auto q = RandomValues<T>(nq, 1.5f, rng);
  auto k = RandomValues<T>(nkv, 1.f, rng);
  auto v = RandomValues<T>(nkv, 1.f, rng);
  // Keys past the last query's position must never be read: make them NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int bh = 0; bh < B * kvh; ++bh) {
    for (int key = q0 + Lq; key < Lkv; ++key) {
      for (int i = 0; i < d; ++i) {
        k[(static_cast<size_t>(bh) * Lkv + key) * d + i] = nan;
        v[(static_cast<size_t>(bh) * Lkv + key) * d + i] = nan;
      }
    }
  }
  DeviceBuffer dq = Upload<T>(q), dk = Upload<T>(k), dv = Upload<T>(v), dout = Poisoned<T>(nq);
  const absl::Status st = LaunchCausalGqaAttentionAtOffset<T>(
      dq.as<T>(), dk.as<T>(), dv.as<T>(), dout.as<T>(), B, heads, kvh, Lq, Lkv, q0, d, nullptr);
  ASSERT_TRUE(st.ok()) << st;
  std::vector<double> want(nq);
  std::vector<double> sc(q0 + Lq);
  const int group = heads / kvh;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < heads; ++h) {
      const size_t qbase = (static_cast<size_t>(b) * heads + h) * Lq * d;
      const size_t kbase = (static_cast<size_t>(b) * kvh + h / group) * Lkv * d;
      for (int i = 0; i < Lq; ++i) {
        const int last = q0 + i;
        double m = -INFINITY;
        for (int u = 0; u <= last; ++u) {
          double s = 0;
          for (int j = 0; j < d; ++j) s += double(q[qbase + i * d + j]) * k[kbase + u * d + j];
          sc[u] = s / std::sqrt(double(d));
          m = std::max(m, sc[u]);
        }
        double l = 0;
        for (int u = 0; u <= last; ++u) l += (sc[u] = std::exp(sc[u] - m));
        for (int j = 0; j < d; ++j) {
          double o = 0;
          for (int u = 0; u <= last; ++u) o += sc[u] * v[kbase + u * d + j];
          want[((static_cast<size_t>(b) * Lq + i) * heads + h) * d + j] = o / l;
        }
      }
    }
  }
  const std::vector<float> got = Download<T>(dout, nq);
  const double rel = RelL2(got, want);
  double max_abs = 0;
  for (size_t i = 0; i < nq; ++i) max_abs = std::max(max_abs, std::abs(got[i] - want[i]));
  if (!std::isfinite(rel)) max_abs = INFINITY;
  worst = std::max(worst, rel);
  std::printf("attn-offset %s Lq=%d q0=%d Lkv=%d d=%d heads=%d/%d | max-abs %.2e rel-L2 %.2e\n",
              TypeName<T>(), Lq, q0, Lkv, d, heads, kvh, max_abs, rel);
  // Tolerance<T>: fp32 accumulation order only (≤ 2e-5); bf16: P rounded to bf16 for P·V as
  // flash attention does, and the bf16 output (2^-9): 1e-2 (attention_test.cc's bound).
  EXPECT_LE(rel, Tolerance<T>()) << "Lq=" << Lq << " q0=" << q0 << " Lkv=" << Lkv << " d=" << d;
}

TYPED_TEST(AttentionOffsetTest, QueryBlockAtOffsetMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  double worst = 0;
  int cases = 0;
  for (int d : {16, 32, 64, 128}) {
    // GQA (two query heads per KV head) on d = 32 and 16, the Llama golden models' shapes.
    const int heads = 2, kvh = d <= 32 ? 1 : 2;
    for (int lq : {1, 17, 64, 129}) {
      for (int q0 : {0, 5, 300}) {
        for (int extra : {0, 37}) {
          CheckOffsetAttention<TypeParam>({lq, q0, extra, d, heads, kvh}, rng, worst);
          ++cases;
        }
      }
    }
  }
  std::printf("attn-offset %s: %d cases, worst rel-L2 %.2e (tolerance %.0e)\n",
              TypeName<TypeParam>(), cases, worst, Tolerance<TypeParam>());
}

// A sequence cut into 2·CP zigzag chunks: each chunk's queries at their offset against the whole
// K/V give the rows the whole-sequence kernel gives, bit for bit (same key tiles per row).
TYPED_TEST(AttentionOffsetTest, ZigzagChunksEqualWholeSequence) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(32);
  const int heads = 2, d = 64;
  for (int S : {4, 257, 1000}) {
    const int chunks = 4;  // CP = 2
    const int Lc = (S + chunks - 1) / chunks;
    const int padded = chunks * Lc;
    const size_t n = static_cast<size_t>(heads) * padded * d;
    auto q = RandomValues<T>(n, 1.5f, rng);
    auto k = RandomValues<T>(n, 1.f, rng);
    auto v = RandomValues<T>(n, 1.f, rng);
    DeviceBuffer dq = Upload<T>(q), dk = Upload<T>(k), dv = Upload<T>(v), dfull = Poisoned<T>(n);
    ASSERT_TRUE(LaunchCausalAttention<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), dfull.as<T>(), 1,
                                         heads, padded, d, nullptr)
                    .ok());
    const std::vector<float> full = Download<T>(dfull, n);  // [padded, heads·d]
    double max_abs = 0;
    for (int r = 0; r < chunks / 2; ++r) {
      for (int chunk : {r, chunks - 1 - r}) {  // rank r's zigzag pair
        // This chunk's queries, head-major [heads, Lc, d].
        std::vector<float> qc(static_cast<size_t>(heads) * Lc * d);
        for (int h = 0; h < heads; ++h)
          std::copy_n(q.begin() + (static_cast<size_t>(h) * padded + chunk * Lc) * d, Lc * d,
                      qc.begin() + static_cast<size_t>(h) * Lc * d);
        DeviceBuffer dqc = Upload<T>(qc), doc = Poisoned<T>(qc.size());
        ASSERT_TRUE(LaunchCausalGqaAttentionAtOffset<T>(
                        dqc.as<T>(), dk.as<T>(), dv.as<T>(), doc.as<T>(), 1, heads, heads, Lc,
                        padded, static_cast<int64_t>(chunk) * Lc, d, nullptr)
                        .ok());
        const std::vector<float> got = Download<T>(doc, qc.size());  // [Lc, heads·d]
        const size_t off = static_cast<size_t>(chunk) * Lc * heads * d;
        for (size_t i = 0; i < got.size(); ++i) {
          const double diff = std::isfinite(got[i]) ? std::abs(got[i] - full[off + i]) : INFINITY;
          max_abs = std::max(max_abs, diff);
        }
      }
    }
    std::printf("attn-zigzag %s S=%d CP=2 Lc=%d d=%d | max-abs vs whole sequence %.2e\n",
                TypeName<T>(), S, Lc, d, max_abs);
    EXPECT_EQ(max_abs, 0.0) << "S=" << S;
  }
}

TEST(AttentionOffsetValidationTest, RefusesTooFewKeys) {
  SKIP_WITHOUT_GPU();
  float* p = reinterpret_cast<float*>(256);
  absl::Status st = LaunchCausalGqaAttentionAtOffset<float>(p, p, p, p, 1, 2, 2, 10, 14, 5, 64,
                                                            nullptr);  // needs 15 keys
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("need at least 15 keys"), std::string::npos) << st;
  EXPECT_FALSE(
      LaunchCausalGqaAttentionAtOffset<float>(p, p, p, p, 1, 2, 2, 10, 20, -1, 64, nullptr).ok());
  st = LaunchCausalGqaAttentionAtOffset<float>(p, p, p, p, 1, 2, 2, 10, 20, 5, 96, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
}

}  // namespace
}  // namespace evo2::kernels::testing
