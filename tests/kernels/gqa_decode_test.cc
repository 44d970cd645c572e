// Kernel tests for the grouped-query decode step (docs/spec/model.md §12): the rotary KV append
// of kernels/rotary_gqa.cuh (LaunchRotaryGqaKvAppend) followed by single-query attention against
// a KV cache of fewer KV heads (kernels/decode_attention.cuh LaunchDecodeAttentionGqa), against a
// float64 reference on fresh random inputs: GQA ratios 1, 3, 4 and multi-query, head dims that
// are no multiple of 32, positions 0, on both sides of a 256-key split boundary and near the
// capacity, every sequence of a batch at its own position; outputs and the appended cache rows
// poisoned with NaN so an unwritten element fails. Tolerance<T>() (gpu_test_util.h) says why.
#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/decode_attention.cuh"
#include "kernels/rotary_gqa.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class GqaDecodeTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(GqaDecodeTest, ElementTypes);

struct GqaDecodeCase {
  int heads, kv_heads, d, cap;
  std::vector<int> positions;  // one per sequence, each < cap
};

TYPED_TEST(GqaDecodeTest, RotaryAppendAndAttentionMatchReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(29);
  const std::vector<GqaDecodeCase> cases = {{4, 2, 32, 256, {0, 17, 255}},  // the l_eden shape
                                            {6, 2, 34, 512, {255, 256, 300}},
                                            {5, 5, 46, 256, {9}},
                                            {8, 1, 64, 1024, {1000, 3}},
                                            {12, 3, 128, 512, {511, 130, 0, 257}}};
  for (const GqaDecodeCase& c : cases) {
    const int B = static_cast<int>(c.positions.size());
    const int heads = c.heads, kvh = c.kv_heads, d = c.d, half = d / 2, cap = c.cap;
    const int ld = (heads + 2 * kvh) * d, group = heads / kvh;
    const size_t cache_n = static_cast<size_t>(B) * kvh * cap * d;
    auto k_cache = RandomValues<T>(cache_n, 1.f, rng);
    auto v_cache = RandomValues<T>(cache_n, 1.f, rng);
    for (int b = 0; b < B; ++b)
      for (int g = 0; g < kvh; ++g)
        for (int i = 0; i < d; ++i) {
          const size_t idx = ((static_cast<size_t>(b) * kvh + g) * cap + c.positions[b]) * d + i;
          k_cache[idx] = NAN;  // the kernel must write row t_b
          v_cache[idx] = NAN;
        }
    auto qkv = RandomValues<T>(static_cast<size_t>(B) * ld, 1.f, rng);
    // A llama3-like table: frequencies spread over several decades.
    std::vector<float> inv_freq(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) inv_freq[i] = std::pow(500000.f, -2.f * i / d) / (i % 3 + 1);
    DeviceBuffer dk = Upload<T>(k_cache), dv = Upload<T>(v_cache), dqkv = Upload<T>(qkv),
                 dfreq = Upload<float>(inv_freq);
    DeviceBuffer dq = Poisoned<T>(static_cast<size_t>(B) * heads * d);
    DeviceBuffer dout = Poisoned<T>(static_cast<size_t>(B) * heads * d);
    auto dpos = DeviceBuffer::Allocate(static_cast<size_t>(B) * sizeof(int32_t));
    ASSERT_TRUE(dpos.ok());
    std::vector<int32_t> pos(c.positions.begin(), c.positions.end());
    ASSERT_EQ(cudaMemcpy(dpos->get(), pos.data(), pos.size() * 4, cudaMemcpyHostToDevice),
              cudaSuccess);
    const size_t ws_bytes = DecodeAttentionWorkspaceBytes(B, heads, d, cap);
    auto ws = DeviceBuffer::Allocate(ws_bytes);
    ASSERT_TRUE(ws.ok());
    const GqaShape shape{.heads = heads, .kv_heads = kvh, .head_dim = d};
    ASSERT_TRUE(LaunchRotaryGqaKvAppend<T>(dqkv.as<T>(), dfreq.as<float>(), dpos->as<int32_t>(),
                                           dq.as<T>(), dk.as<T>(), dv.as<T>(), B, shape, cap,
                                           nullptr)
                    .ok());
    ASSERT_TRUE(LaunchDecodeAttentionGqa<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), dpos->as<int32_t>(),
                                            dout.as<T>(), ws->get(), ws_bytes, B, heads, kvh, d,
                                            cap, nullptr)
                    .ok());
    // Reference: rotate-half at t_b (θ = t_b·ω_i in fp32, cos/sin rounded to T as the kernel
    // and transformers do; q and the appended k rounded to T), then float64 softmax attention of
    // query head h over rows 0..t_b of KV head h / group.
    const auto k_after = Download<T>(dk, cache_n);
    const auto v_after = Download<T>(dv, cache_n);
    std::vector<double> want(static_cast<size_t>(B) * heads * d), want_kv;
    std::vector<float> got_kv;
    auto rotate = [&](const float* x, int t, int i, double* r1, double* r2) {
      const float angle = static_cast<float>(t) * inv_freq[i];
      const double cs = RoundTo<T>(std::cos(angle)), sn = RoundTo<T>(std::sin(angle));
      *r1 = RoundTo<T>(static_cast<float>(x[i] * cs - x[i + half] * sn));
      *r2 = RoundTo<T>(static_cast<float>(x[i] * sn + x[i + half] * cs));
    };
    for (int b = 0; b < B; ++b) {
      const int t = c.positions[b];
      const float* row = qkv.data() + static_cast<size_t>(b) * ld;
      std::vector<std::vector<double>> knew(kvh, std::vector<double>(d));
      for (int g = 0; g < kvh; ++g) {
        const float* ks = row + static_cast<size_t>(heads + g) * d;
        const float* vs = row + static_cast<size_t>(heads + kvh + g) * d;
        for (int i = 0; i < half; ++i) rotate(ks, t, i, &knew[g][i], &knew[g][i + half]);
        const size_t r0 = ((static_cast<size_t>(b) * kvh + g) * cap + t) * d;
        for (int i = 0; i < d; ++i) {
          want_kv.push_back(knew[g][i]);
          got_kv.push_back(k_after[r0 + i]);
          want_kv.push_back(vs[i]);
          got_kv.push_back(v_after[r0 + i]);
        }
      }
      for (int h = 0; h < heads; ++h) {
        const int g = h / group;
        std::vector<double> q(d);
        for (int i = 0; i < half; ++i)
          rotate(row + static_cast<size_t>(h) * d, t, i, &q[i], &q[i + half]);
        const size_t base = (static_cast<size_t>(b) * kvh + g) * cap * d;
        std::vector<double> s(static_cast<size_t>(t) + 1);
        double m = -INFINITY;
        for (int tau = 0; tau <= t; ++tau) {
          double dot = 0;
          for (int i = 0; i < d; ++i)
            dot += q[i] * (tau == t ? knew[g][i] : k_cache[base + tau * d + i]);
          s[tau] = dot / std::sqrt(double(d));
          m = std::max(m, s[tau]);
        }
        double l = 0;
        for (double& x : s) l += (x = std::exp(x - m));
        const float* vs = row + static_cast<size_t>(heads + kvh + g) * d;
        for (int i = 0; i < d; ++i) {
          double acc = 0;
          for (int tau = 0; tau <= t; ++tau)
            acc += s[tau] * (tau == t ? vs[i] : v_cache[base + tau * d + i]);
          want[(static_cast<size_t>(b) * heads + h) * d + i] = acc / l;
        }
      }
    }
    const auto got = Download<T>(dout, want.size());
    const double rel = RelL2(got, want), rel_kv = RelL2(got_kv, want_kv);
    std::printf(
        "gqa decode B=%d heads=%d kv_heads=%d d=%d cap=%d %s: rel-L2 error out %.2e, "
        "appended k/v %.2e\n",
        B, heads, kvh, d, cap, std::is_same_v<T, float> ? "fp32" : "bf16", rel, rel_kv);
    EXPECT_LE(rel, Tolerance<T>());
    EXPECT_LE(rel_kv, Tolerance<T>());
  }
}

TYPED_TEST(GqaDecodeTest, RefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  auto any = DeviceBuffer::Allocate(1 << 16);
  ASSERT_TRUE(any.ok());
  const T* p = any->as<T>();
  T* o = any->as<T>();
  const int32_t* pos = any->as<int32_t>();
  // 3 KV heads do not divide 4 query heads.
  EXPECT_EQ(
      LaunchDecodeAttentionGqa<T>(p, p, p, pos, o, any->get(), 1 << 16, 1, 4, 3, 32, 256, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchRotaryGqaKvAppend<T>(p, any->as<float>(), pos, o, o, o, 1,
                                       {.heads = 4, .kv_heads = 3, .head_dim = 32}, 256, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Odd head dim.
  EXPECT_EQ(LaunchRotaryGqaKvAppend<T>(p, any->as<float>(), pos, o, o, o, 1,
                                       {.heads = 4, .kv_heads = 2, .head_dim = 33}, 256, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A cache head narrower than the head.
  EXPECT_EQ(LaunchRotaryGqaKvAppend<T>(p, nullptr, pos, o, o, o, 1,
                                       {.heads = 4, .kv_heads = 2, .head_dim = 32}, 256, nullptr,
                                       {.cache_head_dim = 16})
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace evo2::kernels::testing
