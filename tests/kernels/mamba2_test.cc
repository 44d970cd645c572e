// Kernel tests for the Mamba-2 mixer pieces of the NemotronH family (golden/m_hybrid_a/README.md
// "Mamba-2 mixer"): the chunked SSD scan, the causal conv + SiLU, the (gated) group RMSNorm, the
// squared ReLU and the head-major gather with head repetition. Each against a float64 CPU
// reference written from the formulas (the scan as the plain sequential recurrence), on fresh
// random inputs: 1 token, chunk-boundary lengths (64, 128) and chunk ± 1, odd lengths, several
// head / group / state sizes including odd ones, batch > 1, inputs read with leading dimensions
// wider than their rows. Outputs are poisoned with NaN first: an unwritten element fails.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/causal_conv_silu.cuh"
#include "kernels/group_rms_norm.cuh"
#include "kernels/head_major.cuh"
#include "kernels/squared_relu.cuh"
#include "kernels/ssd_scan.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

template <typename T>
class Mamba2KernelTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(Mamba2KernelTest, ElementTypes);

struct ScanShape {
  int batch, seq, heads, head_dim, groups, state;
};

double MaxAbs(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    m = std::max(m, std::abs(got[i] - want[i]));
  }
  return m;
}

// The selective scan as the sequential recurrence, in float64 (ssd_scan.cuh's formulas).
std::vector<double> ReferenceScan(const ScanShape& s, const std::vector<float>& xbc, int ld,
                                  const std::vector<float>& dt_raw, int ld_dt,
                                  const std::vector<float>& dt_bias, const std::vector<float>& A,
                                  const std::vector<float>& D) {
  const int P = s.head_dim, N = s.state, di = s.heads * P;
  const int b_off = di, c_off = di + s.groups * N;
  std::vector<double> y(static_cast<size_t>(s.batch) * s.seq * di);
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.heads; ++h) {
      const int g = h / (s.heads / s.groups);
      std::vector<double> st(static_cast<size_t>(P) * N, 0.0);
      for (int t = 0; t < s.seq; ++t) {
        const size_t r = static_cast<size_t>(b) * s.seq + t;
        const double v = static_cast<double>(dt_raw[r * ld_dt + h]) + dt_bias[h];
        const double delta = v > 20 ? v : std::log1p(std::exp(v));
        const double decay = std::exp(delta * A[h]);
        const float* row = xbc.data() + r * ld;
        for (int p = 0; p < P; ++p) {
          const double x = row[h * P + p];
          double acc = 0;
          for (int n = 0; n < N; ++n) {
            double& sv = st[static_cast<size_t>(p) * N + n];
            sv = decay * sv + delta * x * row[b_off + g * N + n];
            acc += sv * row[c_off + g * N + n];
          }
          y[r * di + h * P + p] = acc + D[h] * x;
        }
      }
    }
  }
  return y;
}

TYPED_TEST(Mamba2KernelTest, SsdScanMatchesSequentialRecurrence) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(21);
  const std::vector<ScanShape> shapes = {
      {1, 1, 4, 16, 2, 16},   {1, 17, 4, 16, 2, 16},  {1, 63, 4, 16, 2, 16},
      {1, 64, 4, 16, 2, 16},  {1, 65, 4, 16, 2, 16},  {2, 127, 4, 16, 1, 16},
      {1, 128, 8, 32, 2, 32}, {2, 129, 8, 32, 2, 32}, {1, 1000, 2, 16, 1, 16},
      {1, 77, 3, 5, 1, 7},    {2, 70, 6, 64, 3, 128}, {1, 200, 4, 64, 4, 128},
  };
  for (const ScanShape& s : shapes) {
    const int di = s.heads * s.head_dim, gn = s.groups * s.state;
    const int ld = di + 2 * gn + 3;  // x ‖ B ‖ C and 3 unused columns
    const int ld_dt = s.heads + 5;
    const size_t rows = static_cast<size_t>(s.batch) * s.seq;
    auto xbc = RandomValues<T>(rows * ld, 1.f, rng);
    auto dt_raw = RandomValues<T>(rows * ld_dt, 1.f, rng);
    std::uniform_real_distribution<float> log_dt(std::log(1e-3f), std::log(1e-1f));
    std::uniform_real_distribution<float> a_dist(1.f, 16.f), d_dist(0.5f, 1.5f);
    std::vector<float> dt_bias(s.heads), A(s.heads), D(s.heads);
    for (int h = 0; h < s.heads; ++h) {
      const float dt0 = std::exp(log_dt(rng));
      dt_bias[h] = std::log(std::expm1(dt0));  // softplus⁻¹: Δ around dt0
      A[h] = -a_dist(rng);
      D[h] = d_dist(rng);
    }
    DeviceBuffer dxbc = Upload<T>(xbc), ddt = Upload<T>(dt_raw);
    DeviceBuffer dbias = Upload<float>(dt_bias), dA = Upload<float>(A), dD = Upload<float>(D);
    const int ld_y = di + 1;
    const auto want = ReferenceScan(s, xbc, ld, dt_raw, ld_dt, dt_bias, A, D);
    for (SsdScanVariant variant : {SsdScanVariant::kV1, SsdScanVariant::kV2}) {
      DeviceBuffer dy = Poisoned<float>(rows * ld_y);
      const size_t ws_bytes = SsdScanWorkspaceBytes(s.batch, s.seq, s.heads, s.head_dim, s.state);
      DeviceBuffer dws = Poisoned<uint8_t>(ws_bytes);
      SsdScanArgs<T> args;
      args.variant = variant;
      args.x = dxbc.as<T>();
      args.ld_x = ld;
      args.B = dxbc.as<T>() + di;
      args.C = dxbc.as<T>() + di + gn;
      args.ld_bc = ld;
      args.dt_raw = ddt.as<T>();
      args.ld_dt = ld_dt;
      args.dt_bias = dbias.as<float>();
      args.A = dA.as<float>();
      args.D = dD.as<float>();
      args.y = dy.as<float>();
      args.ld_y = ld_y;
      args.batch = s.batch;
      args.seq = s.seq;
      args.heads = s.heads;
      args.head_dim = s.head_dim;
      args.groups = s.groups;
      args.state_size = s.state;
      args.workspace = dws.get();
      args.workspace_bytes = ws_bytes;
      const absl::Status st = LaunchSsdScan<T>(args, nullptr);
      ASSERT_TRUE(st.ok()) << st;
      const auto y_all = Download<float>(dy, rows * ld_y);
      std::vector<float> got(rows * di);
      for (size_t r = 0; r < rows; ++r)
        for (int c = 0; c < di; ++c) got[r * di + c] = y_all[r * ld_y + c];
      const double rel = RelL2(got, want), max_abs = MaxAbs(got, want);
      const char* version = variant == SsdScanVariant::kV2 ? "v2" : "v1";
      std::printf(
          "ssd_scan %s %s batch=%d seq=%d heads=%d P=%d groups=%d N=%d: rel-L2 error %.2e, "
          "max-abs error %.2e\n",
          version, sizeof(T) == 4 ? "fp32" : "bf16", s.batch, s.seq, s.heads, s.head_dim, s.groups,
          s.state, rel, max_abs);
      // The inputs are rounded to T before the reference sees them and the scan runs in fp32 for
      // both types, so only fp32 summation order differs from float64: up to a few hundred terms
      // per output (chunk of 64 × state ≤ 128) at ~6e-8 each, hence 2e-5 (observed ≤ 5.3e-7).
      EXPECT_LE(rel, 2e-5) << version << " seq=" << s.seq << " heads=" << s.heads
                           << " P=" << s.head_dim << " N=" << s.state;
    }
  }
}

TYPED_TEST(Mamba2KernelTest, SsdScanRefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  SsdScanArgs<T> args;
  EXPECT_EQ(LaunchSsdScan<T>(args, nullptr).code(), absl::StatusCode::kInvalidArgument);
  DeviceBuffer buf = Poisoned<float>(1024);
  args.x = args.B = args.C = args.dt_raw = reinterpret_cast<const T*>(buf.get());
  args.dt_bias = args.A = args.D = buf.as<float>();
  args.y = buf.as<float>();
  args.workspace = buf.get();
  args.workspace_bytes = 16;
  args.batch = 1;
  args.seq = 10;
  args.heads = 3;
  args.head_dim = 4;
  args.groups = 2;  // 3 heads do not split into 2 groups
  args.state_size = 4;
  args.ld_x = args.ld_bc = args.ld_dt = args.ld_y = 64;
  EXPECT_EQ(LaunchSsdScan<T>(args, nullptr).code(), absl::StatusCode::kInvalidArgument);
  args.groups = 1;  // now the 16-byte workspace is too small
  const absl::Status st = LaunchSsdScan<T>(args, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("workspace"), std::string::npos) << st;
  args.head_dim = 128;  // P = 128, N = 512 needs far more shared memory than any device has
  args.state_size = 512;
  args.workspace_bytes = SsdScanWorkspaceBytes(1, 10, 3, 128, 512);
  auto big = DeviceBuffer::Allocate(args.workspace_bytes);
  ASSERT_TRUE(big.ok());
  args.workspace = big->get();
  args.ld_x = args.ld_y = 3 * 128;
  args.ld_bc = 512;
  EXPECT_EQ(LaunchSsdScan<T>(args, nullptr).code(), absl::StatusCode::kUnimplemented);
}

TYPED_TEST(Mamba2KernelTest, CausalConvSiluMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(22);
  struct Shape {
    int batch, seq, channels, taps;
  };
  for (const Shape& s : std::vector<Shape>{
           {1, 1, 40, 4}, {2, 17, 131, 4}, {1, 70, 384, 4}, {3, 9, 33, 2}, {1, 20, 64, 8}}) {
    const int ld = s.channels + 7;
    const size_t rows = static_cast<size_t>(s.batch) * s.seq;
    auto in = RandomValues<T>(rows * ld, 1.f, rng);
    auto w = RandomValues<float>(static_cast<size_t>(s.channels) * s.taps, 0.5f, rng);
    auto bias = RandomValues<float>(s.channels, 0.1f, rng);
    DeviceBuffer din = Upload<T>(in), dw = Upload<float>(w), db = Upload<float>(bias);
    DeviceBuffer dout = Poisoned<T>(rows * s.channels);
    ASSERT_TRUE(LaunchCausalConvSilu<T>(din.as<T>(), ld, dw.as<float>(), db.as<float>(),
                                        dout.as<T>(), s.batch, s.seq, s.channels, s.taps, nullptr)
                    .ok());
    std::vector<double> want(rows * s.channels);
    for (int b = 0; b < s.batch; ++b)
      for (int t = 0; t < s.seq; ++t)
        for (int c = 0; c < s.channels; ++c) {
          double acc = bias[c];
          for (int k = 0; k < s.taps; ++k) {
            const int tt = t - s.taps + 1 + k;  // tap K−1 is the current position
            if (tt >= 0)
              acc += w[c * s.taps + k] * in[(static_cast<size_t>(b) * s.seq + tt) * ld + c];
          }
          want[(static_cast<size_t>(b) * s.seq + t) * s.channels + c] = acc / (1 + std::exp(-acc));
        }
    EXPECT_LE(RelL2(Download<T>(dout, rows * s.channels), want), Tolerance<T>())
        << "batch=" << s.batch << " seq=" << s.seq << " C=" << s.channels << " K=" << s.taps;
  }
}

TYPED_TEST(Mamba2KernelTest, GroupRmsNormMatchesReference) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(23);
  struct Shape {
    int rows, width, group;
  };
  for (const Shape& s : std::vector<Shape>{
           {1, 40, 40}, {17, 256, 128}, {5, 4096, 4096}, {3, 8192, 1024}, {2, 99, 33}}) {
    for (bool gated : {false, true}) {
      const int ld_x = s.width + 3, ld_gate = 2 * s.width + 1, ld_out = s.width + 2;
      auto x = RandomValues<float>(static_cast<size_t>(s.rows) * ld_x, 2.f, rng);
      auto gate = RandomValues<T>(static_cast<size_t>(s.rows) * ld_gate, 1.f, rng);
      auto w = RandomValues<T>(s.width, 1.f, rng);
      DeviceBuffer dx = Upload<float>(x), dg = Upload<T>(gate), dw = Upload<T>(w);
      DeviceBuffer dout = Poisoned<T>(static_cast<size_t>(s.rows) * ld_out);
      ASSERT_TRUE(LaunchGroupRmsNorm<T>(dx.as<float>(), ld_x, gated ? dg.as<T>() : nullptr, ld_gate,
                                        dw.as<T>(), dout.as<T>(), ld_out, s.rows, s.width, s.group,
                                        1e-5f, nullptr)
                      .ok());
      std::vector<double> want(static_cast<size_t>(s.rows) * s.width);
      for (int r = 0; r < s.rows; ++r) {
        std::vector<double> v(s.width);
        for (int c = 0; c < s.width; ++c) {
          v[c] = x[static_cast<size_t>(r) * ld_x + c];
          if (gated) {
            const double z = gate[static_cast<size_t>(r) * ld_gate + c];
            v[c] *= z / (1 + std::exp(-z));
          }
        }
        for (int g0 = 0; g0 < s.width; g0 += s.group) {
          double ss = 0;
          for (int c = g0; c < g0 + s.group; ++c) ss += v[c] * v[c];
          const double inv = 1 / std::sqrt(ss / s.group + 1e-5);  // ε inside the root
          for (int c = g0; c < g0 + s.group; ++c)
            want[static_cast<size_t>(r) * s.width + c] = w[c] * v[c] * inv;
        }
      }
      const auto all = Download<T>(dout, static_cast<size_t>(s.rows) * ld_out);
      std::vector<float> got(want.size());
      for (int r = 0; r < s.rows; ++r)
        for (int c = 0; c < s.width; ++c)
          got[static_cast<size_t>(r) * s.width + c] = all[static_cast<size_t>(r) * ld_out + c];
      EXPECT_LE(RelL2(got, want), Tolerance<T>()) << "rows=" << s.rows << " width=" << s.width
                                                  << " group=" << s.group << " gated=" << gated;
    }
  }
}

TYPED_TEST(Mamba2KernelTest, SquaredReluAndHeadMajorGather) {
  SKIP_WITHOUT_GPU();
  using T = TypeParam;
  std::mt19937 rng(24);
  auto v = RandomValues<T>(1001, 2.f, rng);
  DeviceBuffer dv = Upload<T>(v);
  ASSERT_TRUE(LaunchSquaredRelu<T>(dv.as<T>(), 1001, nullptr).ok());
  std::vector<double> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = v[i] > 0 ? double{v[i]} * v[i] : 0.0;
  EXPECT_LE(RelL2(Download<T>(dv, v.size()), want), Tolerance<T>());

  // 2 KV heads repeated for 6 query heads (GQA), d = 5, a wider source row.
  const int batch = 2, seq = 7, src_heads = 2, dst_heads = 6, d = 5, ld = 13;
  auto src = RandomValues<T>(static_cast<size_t>(batch) * seq * ld, 1.f, rng);
  DeviceBuffer ds = Upload<T>(src);
  const size_t n = static_cast<size_t>(batch) * dst_heads * seq * d;
  DeviceBuffer dd = Poisoned<T>(n);
  ASSERT_TRUE(
      LaunchToHeadMajor<T>(ds.as<T>(), ld, src_heads, dd.as<T>(), dst_heads, batch, seq, d, nullptr)
          .ok());
  const auto got = Download<T>(dd, n);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < dst_heads; ++h)
      for (int t = 0; t < seq; ++t)
        for (int i = 0; i < d; ++i)
          ASSERT_EQ(got[((static_cast<size_t>(b) * dst_heads + h) * seq + t) * d + i],
                    src[(static_cast<size_t>(b) * seq + t) * ld + (h / 3) * d + i])
              << "b=" << b << " h=" << h << " t=" << t << " i=" << i;
  EXPECT_EQ(
      LaunchToHeadMajor<T>(ds.as<T>(), ld, 4, dd.as<T>(), dst_heads, batch, seq, d, nullptr).code(),
      absl::StatusCode::kInvalidArgument);  // 6 heads cannot repeat 4

  // Widened to 8 columns per head with zeros and scaled by 2 (exact in bf16 and fp32).
  const int d_wide = 8;
  const size_t n_wide = static_cast<size_t>(batch) * dst_heads * seq * d_wide;
  DeviceBuffer dw = Poisoned<T>(n_wide);
  ASSERT_TRUE(LaunchToHeadMajor<T>(ds.as<T>(), ld, src_heads, dw.as<T>(), dst_heads, batch, seq, d,
                                   nullptr, d_wide, 2.f)
                  .ok());
  const auto wide = Download<T>(dw, n_wide);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < dst_heads; ++h)
      for (int t = 0; t < seq; ++t)
        for (int i = 0; i < d_wide; ++i) {
          const float expected =
              i < d ? 2.f * src[(static_cast<size_t>(b) * seq + t) * ld + (h / 3) * d + i] : 0.f;
          ASSERT_EQ(wide[((static_cast<size_t>(b) * dst_heads + h) * seq + t) * d_wide + i],
                    expected)
              << "b=" << b << " h=" << h << " t=" << t << " i=" << i;
        }
  EXPECT_EQ(LaunchToHeadMajor<T>(ds.as<T>(), ld, src_heads, dw.as<T>(), dst_heads, batch, seq, d,
                                 nullptr, d - 1)
                .code(),
            absl::StatusCode::kInvalidArgument);  // narrower than the source head
}

}  // namespace
}  // namespace evo2::kernels::testing
