// The FP8 quantisation fused into the kernels that produce an FP8 linear's input
// (docs/spec/fp8.md): LaunchRmsNormE4M3 and LaunchMlpGateE4M3 must give the codes and inverse
// scales of the unfused path (LaunchRmsNorm / LaunchMlpGate, then LaunchQuantizeRowsE4M3)
// bit for bit — that path is the one tested against the CPU emulation (cuda_fp8_gemm_test), so
// equality here keeps the emulation the reference. Fresh random inputs, odd sizes (H not a
// multiple of 4 or 16, 1 row, 0 rows, padded code rows), huge and tiny magnitudes, all-zero and
// NaN-carrying rows, current scaling and a stored (fixed) scale that saturates. No tolerance:
// any differing byte fails. Each case prints one line with its mismatch counts.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fp8_quantize.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels {
namespace {

using namespace testing;  // NOLINT: tests/kernels/gpu_test_util.h
using BF16 = __nv_bfloat16;

std::vector<uint8_t> Bytes(const DeviceBuffer& buf, size_t n) {
  std::vector<uint8_t> host(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  if (n > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), buf.get(), n, cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

// Byte positions that differ (sizes must match).
int64_t Mismatches(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

struct Scaling {
  const char* name;
  float fixed;  // 0: current scaling
};
// 0.05 is far below 448/amax for the norm outputs (|y| up to ~4·|weight|), 900 far above: with
// it most values saturate to ±448.
const Scaling kScalings[] = {{"current", 0.0f}, {"stored0.05", 0.05f}, {"stored900", 900.0f}};

// A test whose inputs all quantise to one code would pass trivially: demand a spread of codes
// where current scaling maps each row onto the full E4M3 range (a stored scale may legitimately
// saturate or flush a whole case).
void ExpectNonTrivialCodes(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols,
                           int64_t ldq, const Scaling& sc) {
  if (rows == 0 || cols < 64 || sc.fixed > 0.0f) return;
  std::set<uint8_t> distinct;
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t k = 0; k < cols; ++k) distinct.insert(codes[t * ldq + k]);
  EXPECT_GT(distinct.size(), 32u) << "codes barely vary: the case tests nothing";
}

struct NormCase {
  int64_t rows, hidden, ldq;
  float weight_magnitude;  // the norm's scale vector: sets the output's magnitude
  bool bias, keep_y;
};

template <typename T>
void CheckNorm(const NormCase& c, const Scaling& sc, std::mt19937& rng) {
  const int64_t n = c.rows * c.hidden;
  auto x = RandomValues<float>(n, 3.0f, rng);
  if (c.rows > 2) std::fill(x.begin() + c.hidden, x.begin() + 2 * c.hidden, 0.0f);  // zero row
  const auto w = RandomValues<T>(c.hidden, c.weight_magnitude, rng);
  const auto b = RandomValues<T>(c.hidden, 0.5f, rng);
  DeviceBuffer x_ref = Upload<float>(x), x_fused = Upload<float>(x), dw = Upload<T>(w),
               db = Upload<T>(b);
  DeviceBuffer y_ref = Poisoned<T>(n), y_fused = Poisoned<T>(n);
  DeviceBuffer q_ref = Poisoned<uint8_t>(c.rows * c.ldq),
               q_fused = Poisoned<uint8_t>(c.rows * c.ldq);
  DeviceBuffer inv_ref = Poisoned<float>(c.rows), inv_fused = Poisoned<float>(c.rows);
  const T* bias = c.bias ? db.as<T>() : nullptr;
  constexpr float kEps = 1e-6f;

  ASSERT_TRUE(LaunchRmsNorm<T>(x_ref.as<float>(), bias, dw.as<T>(), y_ref.as<T>(), c.rows, c.hidden,
                               kEps, nullptr)
                  .ok());
  ASSERT_TRUE(LaunchQuantizeRowsE4M3<T>(y_ref.as<T>(), c.rows, c.hidden, c.hidden,
                                        q_ref.as<uint8_t>(), c.ldq, inv_ref.as<float>(), nullptr,
                                        sc.fixed)
                  .ok());
  const E4M3RowsOut out{.codes = q_fused.as<uint8_t>(),
                        .ldq = c.ldq,
                        .inv_scale = inv_fused.as<float>(),
                        .fixed_scale = sc.fixed};
  const absl::Status st = LaunchRmsNormE4M3<T>(x_fused.as<float>(), bias, dw.as<T>(),
                                               c.keep_y ? y_fused.as<T>() : nullptr, out, c.rows,
                                               c.hidden, kEps, nullptr);
  ASSERT_TRUE(st.ok()) << st;

  const auto codes_ref = Bytes(q_ref, c.rows * c.ldq), codes = Bytes(q_fused, c.rows * c.ldq);
  const int64_t code_diff = Mismatches(codes_ref, codes);
  const int64_t scale_diff = Mismatches(Bytes(inv_ref, c.rows * 4), Bytes(inv_fused, c.rows * 4));
  const int64_t x_diff = Mismatches(Bytes(x_ref, n * 4), Bytes(x_fused, n * 4));
  const int64_t y_diff =
      c.keep_y ? Mismatches(Bytes(y_ref, n * sizeof(T)), Bytes(y_fused, n * sizeof(T))) : 0;
  std::printf(
      "[fp8fuse] rms_norm %s rows=%lld H=%lld ldq=%lld |w|=%g bias=%d y=%d %s: "
      "code/scale/x/y mismatches %lld/%lld/%lld/%lld\n",
      std::is_same_v<T, float> ? "fp32" : "bf16", static_cast<long long>(c.rows),
      static_cast<long long>(c.hidden), static_cast<long long>(c.ldq), c.weight_magnitude, c.bias,
      c.keep_y, sc.name, static_cast<long long>(code_diff), static_cast<long long>(scale_diff),
      static_cast<long long>(x_diff), static_cast<long long>(y_diff));
  EXPECT_EQ(code_diff, 0);
  EXPECT_EQ(scale_diff, 0);
  EXPECT_EQ(x_diff, 0);  // the bias add on the residual stream is unchanged
  EXPECT_EQ(y_diff, 0);
  if (!c.keep_y && n > 0) {  // y == null: nothing written (still the poison bytes)
    const auto y = Bytes(y_fused, n * sizeof(T));
    EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](uint8_t v) { return v == 0xFF; }));
  }
  ExpectNonTrivialCodes(codes, c.rows, c.hidden, c.ldq, sc);
}

const NormCase kNormCases[] = {
    {7, 4096, 4096, 1.0f, false, false},  // 7B width, registers path (4 chunks)
    {5, 1920, 1920, 1.0f, true, true},    // 1B width, bias add, y kept
    {3, 8192, 8208, 0.7f, true, false},   // 8 chunks, padded code rows
    {1, 12, 16, 1.0f, false, true},       // 1 row, one chunk, padding
    {4, 13, 16, 1.0f, true, true},        // H odd: the generic kernel
    {6, 2050, 2064, 1.0f, false, false},  // H % 4 == 2: generic, padding
    {9, 36, 48, 1.0f, true, false},       // H not a multiple of 16
    {3, 64, 66, 1.0f, false, true},       // registers kernel, code rows not 4-byte multiples
    {2, 13, 17, 1.0f, false, true},       // generic kernel, odd code rows
    {4, 256, 256, 3e4f, false, true},     // huge outputs (weights ~3e4)
    {4, 256, 256, 1e-5f, false, true},    // tiny outputs (codes subnormal under stored scales)
    {0, 4096, 4096, 1.0f, true, true},    // no rows
};

TEST(Fp8FusedQuantize, RmsNormMatchesNormThenQuantize) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(20261206);
  for (const NormCase& c : kNormCases) {
    for (const Scaling& sc : kScalings) {
      CheckNorm<BF16>(c, sc, rng);
      CheckNorm<float>(c, sc, rng);
    }
  }
}

struct GateCase {
  int64_t rows, inner, ldq;
  float magnitude;
  bool gelu;
};

template <typename T>
void CheckGate(const GateCase& c, const Scaling& sc, std::mt19937& rng) {
  const int64_t n = c.rows * 2 * c.inner;
  auto g = RandomValues<T>(n, c.magnitude, rng);
  if (c.rows > 2) std::fill(g.begin() + 2 * c.inner, g.begin() + 4 * c.inner, 0.0f);  // zero row
  if (c.rows > 3) g[3 * 2 * c.inner + c.inner / 2] = NAN;  // a NaN: its code, the rest's amax
  DeviceBuffer g_ref = Upload<T>(g), g_fused = Upload<T>(g);
  DeviceBuffer q_ref = Poisoned<uint8_t>(c.rows * c.ldq),
               q_fused = Poisoned<uint8_t>(c.rows * c.ldq);
  DeviceBuffer inv_ref = Poisoned<float>(c.rows), inv_fused = Poisoned<float>(c.rows);

  ASSERT_TRUE(LaunchMlpGate<T>(g_ref.as<T>(), c.rows, c.inner, c.gelu, nullptr).ok());
  ASSERT_TRUE(LaunchQuantizeRowsE4M3<T>(g_ref.as<T>(), c.rows, c.inner, 2 * c.inner,
                                        q_ref.as<uint8_t>(), c.ldq, inv_ref.as<float>(), nullptr,
                                        sc.fixed)
                  .ok());
  const E4M3RowsOut out{.codes = q_fused.as<uint8_t>(),
                        .ldq = c.ldq,
                        .inv_scale = inv_fused.as<float>(),
                        .fixed_scale = sc.fixed};
  const auto g_before = Bytes(g_fused, n * sizeof(T));
  const absl::Status st =
      LaunchMlpGateE4M3<T>(g_fused.as<T>(), c.rows, c.inner, c.gelu, out, nullptr);
  ASSERT_TRUE(st.ok()) << st;

  const auto codes_ref = Bytes(q_ref, c.rows * c.ldq), codes = Bytes(q_fused, c.rows * c.ldq);
  const int64_t code_diff = Mismatches(codes_ref, codes);
  const int64_t scale_diff = Mismatches(Bytes(inv_ref, c.rows * 4), Bytes(inv_fused, c.rows * 4));
  const int64_t g_diff = Mismatches(g_before, Bytes(g_fused, n * sizeof(T)));
  std::printf(
      "[fp8fuse] mlp_gate %s rows=%lld I=%lld ldq=%lld mag=%g gelu=%d %s: "
      "code/scale mismatches %lld/%lld, input changed %lld\n",
      std::is_same_v<T, float> ? "fp32" : "bf16", static_cast<long long>(c.rows),
      static_cast<long long>(c.inner), static_cast<long long>(c.ldq), c.magnitude, c.gelu, sc.name,
      static_cast<long long>(code_diff), static_cast<long long>(scale_diff),
      static_cast<long long>(g_diff));
  EXPECT_EQ(code_diff, 0);
  EXPECT_EQ(scale_diff, 0);
  EXPECT_EQ(g_diff, 0);  // the fused gate only reads G
  ExpectNonTrivialCodes(codes, c.rows, c.inner, c.ldq, sc);
}

const GateCase kGateCases[] = {
    {6, 11008, 11008, 1.0f, false},  // 7B inner size (bf16 quads)
    {5, 5120, 5120, 1.0f, true},     // 1B inner size, GELU (block 0 of the Arc MLP)
    {4, 16384, 16384, 1.0f, false},  // fp32: 64 KiB of shared memory (the opt-in path)
    {1, 7, 16, 1.0f, true},          // odd I, one row, padded code row
    {4, 30, 48, 1.0f, false},        // I even, not a multiple of 4: bf16 pairs, padded
    {3, 33, 48, 1.0f, true},         // odd I in bf16: the scalar kernel
    {4, 512, 512, 300.0f, true},     // huge products (~1e5)
    {4, 512, 512, 3e-3f, false},     // tiny products (~1e-5)
    {0, 11008, 11008, 1.0f, false},  // no rows
};

TEST(Fp8FusedQuantize, MlpGateMatchesGateThenQuantize) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(6122026);
  for (const GateCase& c : kGateCases) {
    for (const Scaling& sc : kScalings) {
      CheckGate<BF16>(c, sc, rng);
      CheckGate<float>(c, sc, rng);
    }
  }
}

TEST(Fp8FusedQuantize, RefusesBadArguments) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer x = Upload<float>(std::vector<float>(64, 1.0f)),
               w = Upload<BF16>(std::vector<float>(16, 1.0f));
  DeviceBuffer q = Poisoned<uint8_t>(64), inv = Poisoned<float>(4);
  const E4M3RowsOut narrow{.codes = q.as<uint8_t>(), .ldq = 8, .inv_scale = inv.as<float>()};
  const absl::Status norm = LaunchRmsNormE4M3<BF16>(x.as<float>(), nullptr, w.as<BF16>(), nullptr,
                                                    narrow, 4, 16, 1e-6f, nullptr);
  EXPECT_EQ(norm.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(norm.message()).find("code row width 8 < H=16"), std::string::npos) << norm;
  const E4M3RowsOut no_codes{.codes = nullptr, .ldq = 16, .inv_scale = inv.as<float>()};
  EXPECT_EQ(LaunchMlpGateE4M3<BF16>(w.as<BF16>(), 1, 8, false, no_codes, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // A row whose gated values cannot sit in one block's shared memory: refused, not truncated.
  const absl::Status huge = LaunchMlpGateE4M3<float>(
      x.as<float>(), 1, int64_t{1} << 20, false,
      {.codes = q.as<uint8_t>(), .ldq = int64_t{1} << 20, .inv_scale = inv.as<float>()}, nullptr);
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(huge.message()).find("shared memory"), std::string::npos) << huge;
}

}  // namespace
}  // namespace evo2::kernels
