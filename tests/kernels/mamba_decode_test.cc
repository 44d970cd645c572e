// Kernel tests for the Mamba-2 decode step (kernels/mamba_step.cuh) run the way the decoder runs
// them: derive the state from a prefix of each sequence (the conv ring with LaunchRingFromRows,
// σ with LaunchSsmState), then step through the rest, every sequence of the batch at its own
// position; every step's output must equal the float64 parallel formula at that position, and
// the derived σ the float64 recurrence. Fresh random inputs, odd sizes (channels no multiple of
// a warp, P and N no multiple of 32, N > 32, groups > 1, prefixes of 1 token, shorter than the
// conv tail, across a staging tile), outputs poisoned with NaN.
//
// Tolerances: the conv output is rounded to T, Tolerance<T>() (gpu_test_util.h). The SSM output
// y and the state σ stay fp32 and the reference reads the same T-rounded inputs, so only fp32
// accumulation order differs: rel-L2 ≤ 1e-5 (sums of ≤ 128 terms and ≤ 80 recurrence steps of
// decay < 1, each ~6e-8 relative).
#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/hyena_state.cuh"
#include "kernels/mamba_step.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class MambaDecodeTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(MambaDecodeTest, ElementTypes);

template <typename T>
const char* TypeName() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

DeviceBuffer UploadInts(const std::vector<int32_t>& v) {
  auto buf = DeviceBuffer::Allocate(std::max<size_t>(1, v.size()) * sizeof(int32_t));
  EXPECT_TRUE(buf.ok());
  EXPECT_EQ(cudaMemcpy(buf->get(), v.data(), v.size() * sizeof(int32_t), cudaMemcpyHostToDevice),
            cudaSuccess);
  return std::move(*buf);
}

TYPED_TEST(MambaDecodeTest, ConvRingThenStepsMatchCausalConv) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(41);
  struct Case {
    int channels, taps;
    std::vector<int> prefixes;  // one per sequence
  };
  const std::vector<Case> cases = {{37, 4, {1, 2, 9}}, {130, 2, {5}}, {66, 7, {3, 40}}};
  constexpr int kSteps = 9;
  for (const Case& c : cases) {
    const int B = static_cast<int>(c.prefixes.size()), C = c.channels, K = c.taps, n = K - 1;
    const int ld = C + 3;  // the inputs are a column block of a wider row, as in the projection
    auto w = RandomValues<float>(static_cast<size_t>(C) * K, 0.5f, rng);
    auto bias = RandomValues<float>(static_cast<size_t>(C), 0.5f, rng);
    DeviceBuffer dw = Upload<float>(w), dbias = Upload<float>(bias);
    std::vector<std::vector<float>> seqs;  // per sequence [prefix + kSteps, ld]
    DeviceBuffer ring = Poisoned<T>(static_cast<size_t>(B) * n * C);
    for (int b = 0; b < B; ++b) {
      const int S = c.prefixes[b];
      seqs.push_back(RandomValues<T>(static_cast<size_t>(S + kSteps) * ld, 1.f, rng));
      DeviceBuffer rows = Upload<T>(seqs[b]);
      ASSERT_TRUE(LaunchRingFromRows<T>(rows.as<T>(), ld, S, C, n,
                                        ring.as<T>() + static_cast<size_t>(b) * n * C, nullptr)
                      .ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    }
    std::vector<double> want;
    std::vector<float> got;
    for (int s = 0; s < kSteps; ++s) {
      std::vector<float> in(static_cast<size_t>(B) * ld);
      std::vector<int32_t> pos(B);
      for (int b = 0; b < B; ++b) {
        const int t = c.prefixes[b] + s;
        pos[b] = t;
        for (int i = 0; i < ld; ++i) in[static_cast<size_t>(b) * ld + i] = seqs[b][t * ld + i];
        for (int ch = 0; ch < C; ++ch) {
          double acc = bias[ch];
          for (int k = 0; k < K; ++k) {
            const int tt = t - K + 1 + k;
            if (tt >= 0) acc += double(w[ch * K + k]) * seqs[b][tt * ld + ch];
          }
          want.push_back(acc / (1 + std::exp(-acc)));
        }
      }
      DeviceBuffer din = Upload<T>(in), dpos = UploadInts(pos);
      DeviceBuffer dout = Poisoned<T>(static_cast<size_t>(B) * C);
      ASSERT_TRUE(LaunchMambaConvStep<T>(din.as<T>(), ld, dw.as<float>(), dbias.as<float>(),
                                         dpos.as<int32_t>(), ring.as<T>(), dout.as<T>(), B, C, K,
                                         nullptr)
                      .ok());
      const auto out = Download<T>(dout, static_cast<size_t>(B) * C);
      got.insert(got.end(), out.begin(), out.end());
    }
    const double rel = RelL2(got, want);
    std::printf("mamba conv step C=%d K=%d B=%d %s: rel-L2 error %.2e over %d steps\n", C, K, B,
                TypeName<T>(), rel, kSteps);
    EXPECT_LE(rel, Tolerance<T>());
  }
}

TYPED_TEST(MambaDecodeTest, DerivedStateThenStepsMatchRecurrence) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(43);
  struct Case {
    int heads, head_dim, groups, state;
    std::vector<int> prefixes;
  };
  const std::vector<Case> cases = {{8, 32, 2, 32, {1, 37, 69}},  // the m_hybrid_a shape
                                   {6, 9, 3, 48, {33}},
                                   {4, 16, 1, 130, {2, 64}}};
  constexpr int kSteps = 11;
  for (const Case& c : cases) {
    const int B = static_cast<int>(c.prefixes.size());
    const int P = c.head_dim, N = c.state, nh = c.heads, G = c.groups, di = nh * P;
    const int ld = di + 2 * G * N;  // x ‖ B ‖ C
    const int ld_dt = nh + 1;
    auto dt_bias = RandomValues<float>(static_cast<size_t>(nh), 0.5f, rng);
    std::vector<float> A(static_cast<size_t>(nh)), D = RandomValues<float>(nh, 1.f, rng);
    for (int h = 0; h < nh; ++h) A[h] = -std::exp(0.3f * static_cast<float>(h % 5) - 0.5f);
    DeviceBuffer dbias = Upload<float>(dt_bias), dA = Upload<float>(A), dD = Upload<float>(D);
    DeviceBuffer state = Poisoned<float>(static_cast<size_t>(B) * nh * P * N);
    std::vector<std::vector<float>> xbc, dt;  // per sequence [S + kSteps, ld], [S + kSteps, ld_dt]
    std::vector<std::vector<double>> sigma;   // per sequence [nh, P, N] reference state
    double worst_state = 0;
    auto advance = [&](int b, int t, std::vector<double>* y_row) {
      for (int h = 0; h < nh; ++h) {
        const int g = h / (nh / G);
        const double v = double(dt[b][t * ld_dt + h]) + dt_bias[h];
        const double delta = v > 20 ? v : std::log1p(std::exp(v));
        const double decay = std::exp(delta * A[h]);
        const float* row = xbc[b].data() + static_cast<size_t>(t) * ld;
        for (int p = 0; p < P; ++p) {
          const double x = row[h * P + p];
          double acc = 0;
          for (int nn = 0; nn < N; ++nn) {
            double& s = sigma[b][(static_cast<size_t>(h) * P + p) * N + nn];
            s = decay * s + delta * x * row[di + g * N + nn];
            acc += s * row[di + G * N + g * N + nn];
          }
          if (y_row != nullptr) y_row->push_back(acc + D[h] * x);
        }
      }
    };
    for (int b = 0; b < B; ++b) {
      const int S = c.prefixes[b];
      xbc.push_back(RandomValues<T>(static_cast<size_t>(S + kSteps) * ld, 1.f, rng));
      dt.push_back(RandomValues<T>(static_cast<size_t>(S + kSteps) * ld_dt, 1.f, rng));
      sigma.emplace_back(static_cast<size_t>(nh) * P * N, 0.0);
      for (int t = 0; t < S; ++t) advance(b, t, nullptr);
      DeviceBuffer dx = Upload<T>(xbc[b]), ddt = Upload<T>(dt[b]);
      SsmStepArgs<T> a;
      a.x = dx.as<T>();
      a.ld_x = ld;
      a.B = dx.as<T>() + di;
      a.ld_bc = ld;
      a.dt_raw = ddt.as<T>();
      a.ld_dt = ld_dt;
      a.dt_bias = dbias.as<float>();
      a.A = dA.as<float>();
      a.state = state.as<float>() + static_cast<size_t>(b) * nh * P * N;
      a.rows = S;
      a.heads = nh;
      a.head_dim = P;
      a.groups = G;
      a.state_size = N;
      ASSERT_TRUE(LaunchSsmState<T>(a, nullptr).ok());
      std::vector<float> got_state(static_cast<size_t>(nh) * P * N);
      ASSERT_EQ(cudaMemcpy(got_state.data(), a.state, got_state.size() * sizeof(float),
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
      worst_state = std::max(worst_state, RelL2(got_state, sigma[b]));
    }
    std::vector<double> want;
    std::vector<float> got;
    for (int s = 0; s < kSteps; ++s) {
      std::vector<float> in(static_cast<size_t>(B) * ld), dts(static_cast<size_t>(B) * ld_dt);
      for (int b = 0; b < B; ++b) {
        const int t = c.prefixes[b] + s;
        for (int i = 0; i < ld; ++i) in[static_cast<size_t>(b) * ld + i] = xbc[b][t * ld + i];
        for (int i = 0; i < ld_dt; ++i)
          dts[static_cast<size_t>(b) * ld_dt + i] = dt[b][t * ld_dt + i];
        advance(b, t, &want);
      }
      DeviceBuffer dx = Upload<T>(in), ddt = Upload<T>(dts);
      DeviceBuffer dy = Poisoned<float>(static_cast<size_t>(B) * di);
      SsmStepArgs<T> a;
      a.x = dx.as<T>();
      a.ld_x = ld;
      a.B = dx.as<T>() + di;
      a.C = dx.as<T>() + di + G * N;
      a.ld_bc = ld;
      a.dt_raw = ddt.as<T>();
      a.ld_dt = ld_dt;
      a.dt_bias = dbias.as<float>();
      a.A = dA.as<float>();
      a.D = dD.as<float>();
      a.state = state.as<float>();
      a.y = dy.as<float>();
      a.ld_y = di;
      a.rows = B;
      a.heads = nh;
      a.head_dim = P;
      a.groups = G;
      a.state_size = N;
      ASSERT_TRUE(LaunchSsmStep<T>(a, nullptr).ok());
      const auto y = Download<float>(dy, static_cast<size_t>(B) * di);
      got.insert(got.end(), y.begin(), y.end());
    }
    const double rel = RelL2(got, want);
    std::printf(
        "ssm state+step heads=%d P=%d G=%d N=%d B=%d %s: rel-L2 error derived state "
        "%.2e, step outputs %.2e\n",
        nh, P, G, N, B, TypeName<T>(), worst_state, rel);
    EXPECT_LE(worst_state, 1e-5);
    EXPECT_LE(rel, 1e-5);
  }
}

TYPED_TEST(MambaDecodeTest, RefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  auto any = DeviceBuffer::Allocate(1 << 16);
  ASSERT_TRUE(any.ok());
  T* p = any->as<T>();
  const float* f = any->as<float>();
  // Conv kernel of 1 tap (no tail) and of 9 taps (above the kernel's 8).
  EXPECT_EQ(LaunchMambaConvStep<T>(p, 8, f, f, any->as<int32_t>(), p, p, 1, 8, 1, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchMambaConvStep<T>(p, 8, f, f, any->as<int32_t>(), p, p, 1, 8, 9, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  SsmStepArgs<T> a;
  a.x = a.B = a.C = a.dt_raw = p;
  a.dt_bias = a.A = a.D = f;
  a.state = a.y = any->as<float>();
  a.ld_x = a.ld_bc = a.ld_dt = a.ld_y = 4096;
  a.rows = 1;
  a.heads = 4;
  a.head_dim = 8;
  a.groups = 3;  // does not divide the heads
  a.state_size = 16;
  EXPECT_EQ(LaunchSsmStep<T>(a, nullptr).code(), absl::StatusCode::kInvalidArgument);
  a.groups = 2;
  a.state_size = 257;  // above 256
  EXPECT_EQ(LaunchSsmStep<T>(a, nullptr).code(), absl::StatusCode::kInvalidArgument);
  a.state_size = 16;
  a.rows = 0;
  EXPECT_EQ(LaunchSsmState<T>(a, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace evo2::kernels::testing
