// Kernel tests for the Hyena mixer pieces (docs/spec/model.md §7): featurizer, direct FIR
// (hcs 7 taps, hcm 128 taps + D) and the chunked hcl recurrence, each against a float64 CPU
// reference written from the spec's formulas (direct convolution sums, the hcl filter
// h[t] = Σ R·exp(λt) materialised), on odd sizes: 1 token, lengths that are no multiple of any
// block or chunk size, channel counts that are no multiple of a warp, batch > 1.
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/hyena_featurizer.cuh"
#include "kernels/hyena_fir.cuh"
#include "kernels/hyena_long.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class HyenaKernelTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(HyenaKernelTest, ElementTypes);

struct Shape {
  int batch, seq, hidden;
};
const std::vector<Shape> kShapes = {{1, 1, 40}, {2, 17, 96}, {1, 130, 48}, {2, 333, 72}};

TYPED_TEST(HyenaKernelTest, FeaturizerMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(10);
  for (const Shape& s : kShapes) {
    const size_t n3 = static_cast<size_t>(s.batch) * s.seq * 3 * s.hidden;
    const size_t n = n3 / 3;
    auto proj = RandomValues<T>(n3, 1.f, rng);
    auto taps = RandomValues<float>(3 * static_cast<size_t>(s.hidden) * 3, 0.6f, rng);
    DeviceBuffer dp = Upload<T>(proj), dw = Upload<float>(taps);
    DeviceBuffer dq = Poisoned<T>(n), da = Poisoned<T>(n);
    ASSERT_TRUE(LaunchHyenaFeaturizer<T>(dp.as<T>(), dw.as<float>(), dq.as<T>(), da.as<T>(),
                                         s.batch, s.seq, s.hidden, nullptr)
                    .ok());
    std::vector<double> want_q(n), want_a(n);
    const int w3 = 3 * s.hidden;
    for (int b = 0; b < s.batch; ++b) {
      for (int t = 0; t < s.seq; ++t) {
        for (int c = 0; c < s.hidden; ++c) {
          double f[3];
          for (int r = 0; r < 3; ++r) {
            const int j = 3 * c + r;  // interleaved q, k, v columns (§7 step 3)
            f[r] = 0;
            for (int k = 0; k < 3; ++k) {  // conv order: tap 2 multiplies the current sample
              const int tt = t - 2 + k;
              if (tt >= 0) f[r] += taps[j * 3 + k] * proj[(static_cast<size_t>(b) * s.seq + tt) * w3 + j];
            }
          }
          const size_t o = (static_cast<size_t>(b) * s.seq + t) * s.hidden + c;
          want_q[o] = f[0];
          want_a[o] = f[1] * f[2];
        }
      }
    }
    EXPECT_LE(RelL2(Download<T>(dq, n), want_q), Tolerance<T>()) << "S=" << s.seq;
    EXPECT_LE(RelL2(Download<T>(da, n), want_a), Tolerance<T>()) << "S=" << s.seq;
  }
}

TYPED_TEST(HyenaKernelTest, FirGateMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(11);
  // Plus one shape over several 128-step time tiles and 64-channel blocks with a partial last
  // block of each (the bf16 kernel's tiling).
  // 16 channels per group (7B/40B) take the tensor-core kernel for 128 taps (hyena_fir_mma.cu):
  // shapes with partial 64-channel and 128-step blocks and a single step.
  std::vector<Shape> shapes = kShapes;
  shapes.push_back({2, 600, 136});
  shapes.push_back({1, 1000, 80});
  shapes.push_back({2, 259, 208});
  shapes.push_back({1, 1, 32});
  for (int taps_n : {7, 128}) {
    for (const Shape& s : shapes) {
      for (int per_group : {8, 16}) {
        if (s.hidden % per_group != 0) continue;
        const int groups = s.hidden / per_group;  // contiguous blocks of channels (§7)
        const size_t n = static_cast<size_t>(s.batch) * s.seq * s.hidden;
        auto q = RandomValues<T>(n, 1.f, rng);
        auto a = RandomValues<T>(n, 1.f, rng);
        auto h = RandomValues<float>(static_cast<size_t>(groups) * taps_n, 0.3f, rng);
        auto d = RandomValues<float>(s.hidden, 0.3f, rng);
        const bool with_d = taps_n == 128;  // hcm has the D skip, hcs does not
        DeviceBuffer dq = Upload<T>(q), da = Upload<T>(a), dh = Upload<float>(h),
                     dd = Upload<float>(d), dout = Poisoned<T>(n);
        ASSERT_TRUE(LaunchHyenaFirGate<T>(dq.as<T>(), da.as<T>(), dh.as<float>(),
                                          with_d ? dd.as<float>() : nullptr, dout.as<T>(), s.batch,
                                          s.seq, s.hidden, groups, taps_n, nullptr)
                        .ok());
        std::vector<double> want(n);
        for (int b = 0; b < s.batch; ++b) {
          for (int t = 0; t < s.seq; ++t) {
            for (int c = 0; c < s.hidden; ++c) {
              const int g = c / (s.hidden / groups);
              double y = 0;
              for (int k = 0; k < taps_n && k <= t; ++k)  // impulse order
                y += h[g * taps_n + k] * a[(static_cast<size_t>(b) * s.seq + t - k) * s.hidden + c];
              const size_t o = (static_cast<size_t>(b) * s.seq + t) * s.hidden + c;
              if (with_d) y += d[c] * a[o];
              want[o] = q[o] * y;
            }
          }
        }
        EXPECT_LE(RelL2(Download<T>(dout, n), want), Tolerance<T>())
            << "K=" << taps_n << " B=" << s.batch << " S=" << s.seq << " H=" << s.hidden
            << " channels/group=" << per_group;
      }
    }
  }
}

TEST(HyenaFirValidationTest, RefusesUncompiledTapCounts) {
  SKIP_WITHOUT_GPU();
  float* p = reinterpret_cast<float*>(256);
  const absl::Status st = LaunchHyenaFirGate<float>(p, p, p, nullptr, p, 1, 4, 8, 2, 5, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_FALSE(LaunchHyenaFirGate<float>(p, p, p, nullptr, p, 1, 4, 9, 2, 7, nullptr).ok());  // H%G
}

// Random hcl parameters like the golden initialiser: decay rates log-uniform in [1e-4, 0.3].
void RandomPoles(int hidden, std::mt19937& rng, std::vector<float>& log_poles,
                 std::vector<float>& residues) {
  std::uniform_real_distribution<float> u(std::log(1e-4f), std::log(0.3f));
  std::normal_distribution<float> nd(0.f, 0.25f);
  log_poles.resize(static_cast<size_t>(hidden) * 16);
  residues.resize(log_poles.size());
  for (size_t i = 0; i < log_poles.size(); ++i) {
    log_poles[i] = -std::exp(u(rng));
    residues[i] = nd(rng) * std::sqrt(-2.f * log_poles[i]) * 4.f;
  }
}

template <typename T>
void CheckLong(const Shape& s, bool direct_reference, std::mt19937& rng) {
  const size_t n = static_cast<size_t>(s.batch) * s.seq * s.hidden;
  auto q = RandomValues<T>(n, 1.f, rng);
  auto a = RandomValues<T>(n, 1.f, rng);
  auto d = RandomValues<float>(s.hidden, 0.3f, rng);
  std::vector<float> lp, res;
  RandomPoles(s.hidden, rng, lp, res);
  DeviceBuffer dq = Upload<T>(q), da = Upload<T>(a), dlp = Upload<float>(lp),
               dr = Upload<float>(res), dd = Upload<float>(d), dout = Poisoned<T>(n);
  const size_t ws_bytes = HyenaLongWorkspaceBytes(s.batch, s.seq, s.hidden);
  auto ws = DeviceBuffer::Allocate(ws_bytes);
  ASSERT_TRUE(ws.ok());
  ASSERT_TRUE(LaunchHyenaLongGate<T>(dq.as<T>(), da.as<T>(), dlp.as<float>(), dr.as<float>(),
                                     dd.as<float>(), dout.as<T>(), ws->get(), ws_bytes, s.batch,
                                     s.seq, s.hidden, nullptr)
                  .ok());
  std::vector<double> want(n);
  for (int b = 0; b < s.batch; ++b) {
    for (int c = 0; c < s.hidden; ++c) {
      if (direct_reference) {
        // The spec's definition: materialise h_c[t] = Σ_n R·exp(λ t) and convolve.
        std::vector<double> h(s.seq, 0.0);
        for (int t = 0; t < s.seq; ++t)
          for (int m = 0; m < 16; ++m) h[t] += res[c * 16 + m] * std::exp(double(lp[c * 16 + m]) * t);
        for (int t = 0; t < s.seq; ++t) {
          double y = 0;
          for (int tau = 0; tau <= t; ++tau)
            y += h[t - tau] * a[(static_cast<size_t>(b) * s.seq + tau) * s.hidden + c];
          const size_t o = (static_cast<size_t>(b) * s.seq + t) * s.hidden + c;
          want[o] = (y + d[c] * a[o]) * q[o];
        }
      } else {
        // Long sequences: the same sum as a float64 recurrence (exact in exact arithmetic).
        double st[16] = {0};
        for (int t = 0; t < s.seq; ++t) {
          const size_t o = (static_cast<size_t>(b) * s.seq + t) * s.hidden + c;
          double y = 0;
          for (int m = 0; m < 16; ++m) {
            st[m] = std::exp(double(lp[c * 16 + m])) * st[m] + a[o];
            y += res[c * 16 + m] * st[m];
          }
          want[o] = (y + d[c] * a[o]) * q[o];
        }
      }
    }
  }
  // fp32: each chunk multiplies by the rounded pole up to `chunk` (≤ 256) times, a relative
  // error of up to 256·6e-8 ≈ 1.5e-5 in the slowest modes, so 1e-4 rather than the generic 2e-5.
  const double tol = std::is_same_v<T, float> ? 1e-4 : Tolerance<T>();
  EXPECT_LE(RelL2(Download<T>(dout, n), want), tol)
      << "B=" << s.batch << " S=" << s.seq << " H=" << s.hidden;
}

TYPED_TEST(HyenaKernelTest, LongRecurrenceMatchesMaterialisedFilter) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(12);
  for (const Shape& s : kShapes) CheckLong<TypeParam>(s, /*direct_reference=*/true, rng);
}

TYPED_TEST(HyenaKernelTest, LongRecurrenceOnLongSequences) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(13);
  // 20011 > 16384 exercises the 128-token chunks and a partial last chunk.
  CheckLong<TypeParam>({1, 20011, 5}, /*direct_reference=*/false, rng);
  CheckLong<TypeParam>({2, 4099, 33}, /*direct_reference=*/false, rng);
}

}  // namespace
}  // namespace evo2::kernels::testing
