// Kernel tests for cached-state decoding (docs/spec/model.md §12): the state derivation
// (ring tails, the hcl modal reduction), the fused Hyena step and single-query attention
// against a KV cache, each against a float64 CPU reference on fresh random inputs and odd
// sizes: channel counts that are no multiple of a warp, an empty prefix (position 0), prefixes
// shorter and longer than the FIR tails, head dims that are no multiple of 32, positions on both
// sides of a split boundary, batch > 1 with every sequence at its own position.
//
// The Hyena test runs the recurrence the way the decoder does: derive the state from a prefix
// of the sequence, then step through the rest, and every step's output must equal the float64
// parallel formula at that position (Tolerance<T>(), gpu_test_util.h, says why each bound).
#include <cmath>
#include <random>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/decode_attention.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_state.cuh"
#include "kernels/hyena_step.cuh"
#include "kernels/rms_norm.cuh"
#include "kernels/skinny_gemm.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class DecodeStepTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(DecodeStepTest, ElementTypes);

constexpr int kModes = kHyenaLongModes;

enum class Filter { kFir7, kFir128, kModal };

struct HyenaCase {
  Filter filter;
  int hidden, groups;
};

// Float64 reference of the parallel path for one sequence: o[t, c] for all t (§7 steps 2-6),
// with the intermediate roundings to T the kernels make (q and a are stored as T).
template <typename T>
std::vector<double> ParallelReference(const HyenaCase& hc, int S, const std::vector<float>& P,
                                      const std::vector<float>& short_taps,
                                      const std::vector<float>& fir, const std::vector<float>& D,
                                      const std::vector<float>& lam, const std::vector<float>& R,
                                      std::vector<float>* a_out) {
  const int H = hc.hidden, W = 3 * H;
  std::vector<double> q(static_cast<size_t>(S) * H), a(static_cast<size_t>(S) * H);
  for (int t = 0; t < S; ++t) {
    for (int c = 0; c < H; ++c) {
      double f[3];
      for (int r = 0; r < 3; ++r) {
        const int j = 3 * c + r;
        f[r] = 0;
        for (int k = 0; k < 3; ++k) {
          const int tt = t - 2 + k;
          if (tt >= 0) f[r] += double(short_taps[j * 3 + k]) * P[static_cast<size_t>(tt) * W + j];
        }
      }
      q[static_cast<size_t>(t) * H + c] = RoundTo<T>(static_cast<float>(f[0]));
      a[static_cast<size_t>(t) * H + c] =
          RoundTo<T>(RoundTo<T>(static_cast<float>(f[1])) * RoundTo<T>(static_cast<float>(f[2])));
    }
  }
  if (a_out != nullptr) a_out->assign(a.begin(), a.end());
  std::vector<double> o(static_cast<size_t>(S) * H);
  const int K = hc.filter == Filter::kFir7 ? 7 : 128;
  for (int t = 0; t < S; ++t) {
    for (int c = 0; c < H; ++c) {
      const double at = a[static_cast<size_t>(t) * H + c];
      double y = 0;
      if (hc.filter == Filter::kModal) {
        for (int tau = 0; tau <= t; ++tau)
          for (int n = 0; n < kModes; ++n)
            y += R[c * kModes + n] * std::exp(double(lam[c * kModes + n]) * (t - tau)) *
                 a[static_cast<size_t>(tau) * H + c];
        y += D[c] * at;
      } else {
        const int g = c / (H / hc.groups);
        for (int k = 0; k < K && k <= t; ++k)
          y += double(fir[g * K + k]) * a[static_cast<size_t>(t - k) * H + c];
        if (!D.empty()) y += D[c] * at;
      }
      o[static_cast<size_t>(t) * H + c] = y * q[static_cast<size_t>(t) * H + c];
    }
  }
  return o;
}

TYPED_TEST(DecodeStepTest, DerivedStateThenStepsMatchParallelReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(12);
  const std::vector<HyenaCase> cases = {{Filter::kFir7, 40, 40},
                                        {Filter::kFir128, 72, 9},
                                        {Filter::kModal, 40, 1},
                                        {Filter::kModal, 136, 1}};
  const std::vector<int> prefix = {0, 1, 5, 150};  // per sequence: empty, < 6, < 127, > 127
  const int B = static_cast<int>(prefix.size()), steps = 9;
  for (const HyenaCase& hc : cases) {
    const int H = hc.hidden, W = 3 * H;
    const int K = hc.filter == Filter::kFir7 ? 7 : 128, n = K - 1;
    const bool modal = hc.filter == Filter::kModal;
    auto short_taps = RandomValues<float>(static_cast<size_t>(W) * 3, 0.6f, rng);
    auto fir = RandomValues<float>(static_cast<size_t>(hc.groups) * K, 0.3f, rng);
    auto D = hc.filter == Filter::kFir7 ? std::vector<float>{}
                                        : RandomValues<float>(static_cast<size_t>(H), 0.5f, rng);
    std::vector<float> lam(static_cast<size_t>(H) * kModes), R(lam.size());
    std::uniform_real_distribution<float> ul(-0.6f, -0.02f);
    for (float& v : lam) v = ul(rng);
    R = RandomValues<float>(lam.size(), 0.2f, rng);
    DeviceBuffer d_short = Upload<float>(short_taps), d_fir = Upload<float>(fir),
                 d_D = Upload<float>(D.empty() ? std::vector<float>{0.f} : D),
                 d_lam = Upload<float>(lam), d_R = Upload<float>(R);
    // State buffers for B slots, poisoned: derivation must write every slot fully.
    DeviceBuffer proj_tail = Poisoned<T>(static_cast<size_t>(B) * 2 * W);
    DeviceBuffer fir_tail = Poisoned<T>(static_cast<size_t>(B) * n * H);
    DeviceBuffer state = Poisoned<float>(static_cast<size_t>(B) * kModes * H);
    std::vector<std::vector<float>> P(static_cast<size_t>(B));
    std::vector<std::vector<double>> want(static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) {
      const int S = prefix[static_cast<size_t>(b)] + steps;
      P[static_cast<size_t>(b)] = RandomValues<T>(static_cast<size_t>(S) * W, 1.f, rng);
      std::vector<float> a;
      want[static_cast<size_t>(b)] =
          ParallelReference<T>(hc, S, P[static_cast<size_t>(b)], short_taps, fir, D, lam, R, &a);
      // Derive slot b from the prefix (P rows and the a rows the parallel featurizer made).
      const int S0 = prefix[static_cast<size_t>(b)];
      std::vector<float> p0(P[static_cast<size_t>(b)].begin(),
                            P[static_cast<size_t>(b)].begin() + static_cast<size_t>(S0) * W);
      std::vector<float> a0(a.begin(), a.begin() + static_cast<size_t>(S0) * H);
      DeviceBuffer dp0 = Upload<T>(p0.empty() ? std::vector<float>{0.f} : p0);
      DeviceBuffer da0 = Upload<T>(a0.empty() ? std::vector<float>{0.f} : a0);
      ASSERT_TRUE(LaunchRingFromRows<T>(dp0.as<T>(), W, S0, W, 2,
                                        proj_tail.as<T>() + static_cast<size_t>(b) * 2 * W, nullptr)
                      .ok());
      if (modal) {
        ASSERT_TRUE(LaunchHyenaModalState<T>(
                        da0.as<T>(), S0, H, d_lam.as<float>(),
                        state.as<float>() + static_cast<size_t>(b) * kModes * H, nullptr)
                        .ok());
      } else {
        ASSERT_TRUE(LaunchRingFromRows<T>(da0.as<T>(), H, S0, H, n,
                                          fir_tail.as<T>() + static_cast<size_t>(b) * n * H,
                                          nullptr)
                        .ok());
      }
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    }
    double worst = 0;
    for (int s = 0; s < steps; ++s) {
      std::vector<float> proj(static_cast<size_t>(B) * W);
      std::vector<float> pos(static_cast<size_t>(B));
      std::vector<int32_t> positions(static_cast<size_t>(B));
      for (int b = 0; b < B; ++b) {
        const int t = prefix[static_cast<size_t>(b)] + s;
        positions[static_cast<size_t>(b)] = t;
        std::copy_n(P[static_cast<size_t>(b)].begin() + static_cast<size_t>(t) * W, W,
                    proj.begin() + static_cast<size_t>(b) * W);
      }
      DeviceBuffer dproj = Upload<T>(proj), dout = Poisoned<T>(static_cast<size_t>(B) * H);
      auto dpos = DeviceBuffer::Allocate(positions.size() * sizeof(int32_t));
      ASSERT_TRUE(dpos.ok());
      ASSERT_EQ(cudaMemcpy(dpos->get(), positions.data(), positions.size() * sizeof(int32_t),
                           cudaMemcpyHostToDevice),
                cudaSuccess);
      HyenaStepArgs args{.proj = dproj.get(),
                         .short_taps = d_short.as<float>(),
                         .proj_tail = proj_tail.get(),
                         .positions = dpos->as<int32_t>(),
                         .out = dout.get(),
                         .skip_d = D.empty() ? nullptr : d_D.as<float>(),
                         .batch = B,
                         .hidden = H};
      if (modal) {
        args.log_poles = d_lam.as<float>();
        args.residues = d_R.as<float>();
        args.modal = state.as<float>();
      } else {
        args.fir_taps = d_fir.as<float>();
        args.fir_tail = fir_tail.get();
        args.groups = hc.groups;
        args.taps = K;
      }
      ASSERT_TRUE(LaunchHyenaStep<T>(args, nullptr).ok());
      const auto got = Download<T>(dout, static_cast<size_t>(B) * H);
      for (int b = 0; b < B; ++b) {
        const int t = positions[static_cast<size_t>(b)];
        std::vector<float> g(got.begin() + static_cast<size_t>(b) * H,
                             got.begin() + static_cast<size_t>(b + 1) * H);
        std::vector<double> w(
            want[static_cast<size_t>(b)].begin() + static_cast<size_t>(t) * H,
            want[static_cast<size_t>(b)].begin() + static_cast<size_t>(t + 1) * H);
        const double rel = RelL2(g, w);
        worst = std::max(worst, rel);
        EXPECT_LE(rel, Tolerance<T>()) << "filter " << static_cast<int>(hc.filter) << " H=" << H
                                       << " sequence " << b << " position " << t;
      }
    }
    std::printf("hyena step filter=%d H=%d %s: worst rel-L2 error %.2e\n",
                static_cast<int>(hc.filter), H, std::is_same_v<T, float> ? "fp32" : "bf16", worst);
  }
}

TYPED_TEST(DecodeStepTest, StepRefusesBadArguments) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  HyenaStepArgs args;
  EXPECT_EQ(LaunchHyenaStep<T>(args, nullptr).code(), absl::StatusCode::kInvalidArgument);
  DeviceBuffer any = Poisoned<float>(64);
  args = {.proj = any.get(),
          .short_taps = any.as<float>(),
          .proj_tail = any.get(),
          .positions = any.as<int32_t>(),
          .out = any.get(),
          .fir_taps = any.as<float>(),
          .fir_tail = any.get(),
          .groups = 3,
          .taps = 129,
          .batch = 1,
          .hidden = 6};
  EXPECT_EQ(LaunchHyenaStep<T>(args, nullptr).code(), absl::StatusCode::kInvalidArgument)
      << "129 taps";
  args.taps = 7;
  args.log_poles = any.as<float>();
  EXPECT_EQ(LaunchHyenaStep<T>(args, nullptr).code(), absl::StatusCode::kInvalidArgument)
      << "both FIR and modal";
}

struct AttnCase {
  int batch, heads, d, cap;
  std::vector<int> positions;
};

TYPED_TEST(DecodeStepTest, RotaryAppendAndDecodeAttentionMatchReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(13);
  const std::vector<AttnCase> cases = {
      {3, 5, 64, 512, {0, 255, 300}}, {2, 3, 34, 256, {17, 255}}, {1, 2, 128, 1024, {777}}};
  const float scale_pos = 1.f;
  for (const AttnCase& ac : cases) {
    const int B = ac.batch, heads = ac.heads, d = ac.d, half = d / 2, cap = ac.cap;
    const size_t cache_n = static_cast<size_t>(B) * heads * cap * d;
    // Cached rows: random; row t_b is written by the kernel (poisoned here).
    auto k_cache = RandomValues<T>(cache_n, 1.f, rng);
    auto v_cache = RandomValues<T>(cache_n, 1.f, rng);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < d; ++i) {
          const size_t idx = ((static_cast<size_t>(b) * heads + h) * cap + ac.positions[b]) * d + i;
          k_cache[idx] = NAN;
          v_cache[idx] = NAN;
        }
    auto qkv = RandomValues<T>(static_cast<size_t>(B) * 3 * heads * d, 1.f, rng);
    std::vector<float> inv_freq(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) inv_freq[i] = std::pow(10000.f, -2.f * i / d);
    DeviceBuffer dk = Upload<T>(k_cache), dv = Upload<T>(v_cache), dqkv = Upload<T>(qkv),
                 dfreq = Upload<float>(inv_freq);
    DeviceBuffer dq = Poisoned<T>(static_cast<size_t>(B) * heads * d);
    DeviceBuffer dout = Poisoned<T>(static_cast<size_t>(B) * heads * d);
    auto dpos = DeviceBuffer::Allocate(static_cast<size_t>(B) * sizeof(int32_t));
    ASSERT_TRUE(dpos.ok());
    std::vector<int32_t> pos(ac.positions.begin(), ac.positions.end());
    ASSERT_EQ(cudaMemcpy(dpos->get(), pos.data(), pos.size() * 4, cudaMemcpyHostToDevice),
              cudaSuccess);
    const size_t ws_bytes = DecodeAttentionWorkspaceBytes(B, heads, d, cap);
    auto ws = DeviceBuffer::Allocate(ws_bytes);
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(LaunchRotaryKvAppend<T>(dqkv.as<T>(), dfreq.as<float>(), scale_pos,
                                        dpos->as<int32_t>(), dq.as<T>(), dk.as<T>(), dv.as<T>(), B,
                                        heads, d, cap, nullptr)
                    .ok());
    ASSERT_TRUE(LaunchDecodeAttention<T>(dq.as<T>(), dk.as<T>(), dv.as<T>(), dpos->as<int32_t>(),
                                         dout.as<T>(), ws->get(), ws_bytes, B, heads, d, cap,
                                         nullptr)
                    .ok());
    // Reference: rotary at t_b (cos/sin rounded to T as the kernel and rotary.cuh do), then
    // softmax attention over rows 0..t_b in float64.
    std::vector<double> want(static_cast<size_t>(B) * heads * d);
    std::vector<double> want_k;
    std::vector<float> got_k_rows;
    const auto k_after = Download<T>(dk, cache_n);
    std::vector<float> k_rows_got;
    for (int b = 0; b < B; ++b) {
      const int t = ac.positions[b];
      for (int h = 0; h < heads; ++h) {
        const float* hs = qkv.data() + (static_cast<size_t>(b) * 3 * heads + 3 * h) * d;
        std::vector<double> q(d), k(d);
        for (int i = 0; i < half; ++i) {
          const float angle = static_cast<float>(t) / scale_pos * inv_freq[i];
          const double cs = RoundTo<T>(std::cos(angle)), sn = RoundTo<T>(std::sin(angle));
          q[i] = RoundTo<T>(static_cast<float>(hs[i] * cs - hs[i + half] * sn));
          q[i + half] = RoundTo<T>(static_cast<float>(hs[i] * sn + hs[i + half] * cs));
          k[i] = hs[d + i] * cs - hs[d + i + half] * sn;
          k[i + half] = hs[d + i] * sn + hs[d + i + half] * cs;
        }
        const size_t row0 = (static_cast<size_t>(b) * heads + h) * cap;
        for (int i = 0; i < d; ++i) {
          want_k.push_back(k[i]);
          k_rows_got.push_back(k_after[(row0 + t) * d + i]);
        }
        std::vector<double> s(static_cast<size_t>(t) + 1);
        double m = -INFINITY;
        for (int tau = 0; tau <= t; ++tau) {
          double dot = 0;
          for (int i = 0; i < d; ++i) {
            const double kv =
                tau == t ? RoundTo<T>(static_cast<float>(k[i])) : k_cache[(row0 + tau) * d + i];
            dot += q[i] * kv;
          }
          s[tau] = dot / std::sqrt(double(d));
          m = std::max(m, s[tau]);
        }
        double l = 0;
        for (double& x : s) l += (x = std::exp(x - m));
        for (int i = 0; i < d; ++i) {
          double acc = 0;
          for (int tau = 0; tau <= t; ++tau) {
            const double vv = tau == t ? hs[2 * d + i] : v_cache[(row0 + tau) * d + i];
            acc += s[tau] * vv;
          }
          want[(static_cast<size_t>(b) * heads + h) * d + i] = acc / l;
        }
      }
    }
    const auto got = Download<T>(dout, want.size());
    const double rel = RelL2(got, want), rel_k = RelL2(k_rows_got, want_k);
    std::printf("decode attention B=%d heads=%d d=%d cap=%d %s: rel-L2 error out %.2e, appended "
                "k %.2e\n",
                B, heads, d, cap, std::is_same_v<T, float> ? "fp32" : "bf16", rel, rel_k);
    EXPECT_LE(rel, Tolerance<T>());
    EXPECT_LE(rel_k, Tolerance<T>());
  }
}

TYPED_TEST(DecodeStepTest, AttentionRefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  DeviceBuffer any = Poisoned<float>(64);
  const T* p = any.as<T>();
  EXPECT_EQ(LaunchDecodeAttention<T>(p, p, p, any.as<int32_t>(), any.as<T>(), any.get(), 256, 1, 2,
                                     258, 256, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument)
      << "d = 258 > 256";
  EXPECT_EQ(LaunchDecodeAttention<T>(p, p, p, any.as<int32_t>(), any.as<T>(), any.get(), 4, 1, 2,
                                     64, 256, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument)
      << "workspace too small";
}

// The few-row GEMM against float64 on odd output counts, both result types, with and without
// accumulation into y and a bias, and a row stride larger than K (the MLP's l3 reads [B, 2I]
// with ld 2I). Tolerance<Out>() (gpu_test_util.h): fp32 sums of the same rounded inputs, and a
// bf16 result's own rounding.
template <typename T, typename Out>
void CheckSkinnyGemm(std::mt19937& rng) {
  constexpr int64_t n = 16 / sizeof(T);
  for (int64_t rows : {1, 3, 8}) {
    for (int64_t in : {8 * n, 125 * n}) {
      for (int64_t out : {1, 77, 513}) {
        for (bool accumulate : {false, true}) {
          const int64_t ldx = in + 2 * n;
          auto x = RandomValues<T>(static_cast<size_t>(rows * ldx), 1.f, rng);
          auto w = RandomValues<T>(static_cast<size_t>(out * in), 0.05f, rng);
          auto bias = RandomValues<T>(static_cast<size_t>(out), 0.5f, rng);
          auto y0 = RandomValues<Out>(static_cast<size_t>(rows * out), 1.f, rng);
          DeviceBuffer dx = Upload<T>(x), dw = Upload<T>(w), dy = Upload<Out>(y0),
                       dbias = Upload<T>(bias);
          if (!accumulate) dy = Poisoned<Out>(y0.size());
          const SkinnyGemmArgs args{.x = dx.get(),
                                    .ldx = ldx,
                                    .w = dw.get(),
                                    .bias = accumulate ? dbias.get() : nullptr,
                                    .y = dy.get(),
                                    .ldy = out,
                                    .rows = rows,
                                    .in = in,
                                    .out = out,
                                    .accumulate = accumulate};
          const absl::Status launched = LaunchSkinnyGemm<T, Out>(args, nullptr);
          ASSERT_TRUE(launched.ok()) << launched;
          std::vector<double> want(y0.size());
          for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x.data() + r * ldx;
            for (int64_t o = 0; o < out; ++o) {
              double acc = accumulate ? y0[static_cast<size_t>(r * out + o)] + bias[o] : 0.0;
              for (int64_t k = 0; k < in; ++k)
                acc += double(xr[k]) * w[static_cast<size_t>(o * in + k)];
              want[static_cast<size_t>(r * out + o)] = acc;
            }
          }
          const double rel = RelL2(Download<Out>(dy, want.size()), want);
          EXPECT_LE(rel, Tolerance<Out>())
              << "rows " << rows << " in " << in << " out " << out << " accumulate " << accumulate;
        }
      }
    }
  }
}

TYPED_TEST(DecodeStepTest, SkinnyGemmMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(14);
  CheckSkinnyGemm<T, T>(rng);
  CheckSkinnyGemm<T, float>(rng);
  DeviceBuffer any = Poisoned<T>(4096);
  SkinnyGemmArgs bad{.x = any.get(), .ldx = 64, .w = any.get(), .y = any.get(), .ldy = 8,
                     .rows = 9, .in = 64, .out = 8};
  EXPECT_EQ((LaunchSkinnyGemm<T, float>(bad, nullptr).code()), absl::StatusCode::kUnimplemented)
      << "9 rows";
  bad.rows = 1;
  bad.in = bad.ldx = 66;
  EXPECT_EQ((LaunchSkinnyGemm<T, float>(bad, nullptr).code()), absl::StatusCode::kUnimplemented)
      << "rows of 66 elements are not 16-byte multiples";
  bad.in = bad.ldx = 64;
  bad.x = nullptr;
  EXPECT_EQ((LaunchSkinnyGemm<T, float>(bad, nullptr).code()), absl::StatusCode::kInvalidArgument)
      << "no input";
}

// A programmatic-dependent GEMM (dependent_launch.cuh) straight after the RMSNorm that writes its
// input: the norm lets it launch early, so it must wait before reading. Repeated on a fresh,
// poisoned input each time: a GEMM that read too early would see NaN or stale rows.
TYPED_TEST(DecodeStepTest, ProgrammaticGemmWaitsForThePreviousKernel) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(15);
  const int64_t rows = 2, H = 1536, out = 4099;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  auto w = RandomValues<T>(static_cast<size_t>(out * H), 0.05f, rng);
  auto scale = RandomValues<T>(static_cast<size_t>(H), 1.f, rng);
  DeviceBuffer dw = Upload<T>(w), dscale = Upload<T>(scale);
  double worst = 0;
  for (int rep = 0; rep < 20; ++rep) {
    auto x = RandomValues<float>(static_cast<size_t>(rows * H), 1.f, rng);
    DeviceBuffer dx = Upload<float>(x), dz = Poisoned<T>(static_cast<size_t>(rows * H)),
                 dy = Poisoned<float>(static_cast<size_t>(rows * out));
    // The uploads and poison fills ran on the legacy stream, which `stream` does not wait for.
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_TRUE(LaunchRmsNorm<T>(dx.as<float>(), nullptr, dscale.as<T>(), dz.as<T>(), rows, H,
                                 1e-5f, stream)
                    .ok());
    const SkinnyGemmArgs args{.x = dz.get(), .ldx = H, .w = dw.get(), .y = dy.get(), .ldy = out,
                              .rows = rows, .in = H, .out = out, .programmatic = true};
    ASSERT_TRUE((LaunchSkinnyGemm<T, float>(args, stream).ok()));
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const auto z = Download<T>(dz, static_cast<size_t>(rows * H));
    std::vector<double> want(static_cast<size_t>(rows * out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double acc = 0;
        for (int64_t k = 0; k < H; ++k)
          acc += double(z[static_cast<size_t>(r * H + k)]) * w[static_cast<size_t>(o * H + k)];
        want[static_cast<size_t>(r * out + o)] = acc;
      }
    worst = std::max(worst, RelL2(Download<float>(dy, want.size()), want));
  }
  std::printf("programmatic skinny GEMM after rms_norm %s: worst rel-L2 error %.2e over 20 runs\n",
              std::is_same_v<T, float> ? "fp32" : "bf16", worst);
  EXPECT_LE(worst, 2e-5);  // fp32 sums of the same (already rounded) inputs
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace evo2::kernels::testing
