// RunChunkedHead (engine/src/cuda/chunked_head.h), the output head of every cuda-backend family,
// against a float64 CPU head on the same (rounded) inputs:
//   logits[r, :] = z[r, :]·Wᵀ        lp[r] = logits[r, t_r] − log Σ_j exp(logits[r, j])
// on R = 8266 rows, i.e. one full chunk of kHeadChunkRows = 8192 and a partial one of 74 (the
// family golden tests' records stop at 8192 tokens, one chunk), for fp32 and bf16 operands; the
// last-row-only prefill path; and its refusal without logits_host. Host outputs start as NaN,
// so a row the head fails to write fails the comparison. Label gpu: skips without a device.
#include "cuda/chunked_head.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/workspace.h"
#include "gtest/gtest.h"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::cuda {
namespace {

using kernels::DeviceBuffer;
using namespace kernels::testing;  // NOLINT: test helpers
using BF16 = __nv_bfloat16;

constexpr int64_t kH = 64, kV = 512;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Float64 head: logits [rows, V] and, per row, the log-prob of its target (0 for target < 0).
struct ReferenceHead {
  std::vector<double> logits, lp;
};
ReferenceHead Reference(const std::vector<float>& z, const std::vector<float>& w,
                        const std::vector<int32_t>& targets, int64_t rows) {
  ReferenceHead ref{std::vector<double>(rows * kV), std::vector<double>(rows, 0.0)};
  for (int64_t r = 0; r < rows; ++r) {
    double* l = &ref.logits[r * kV];
    double m = -INFINITY;
    for (int64_t o = 0; o < kV; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < kH; ++i) acc += double(z[r * kH + i]) * w[o * kH + i];
      l[o] = acc;
      m = std::max(m, acc);
    }
    double sum = 0;
    for (int64_t o = 0; o < kV; ++o) sum += std::exp(l[o] - m);
    if (targets[r] >= 0) ref.lp[r] = l[targets[r]] - m - std::log(sum);
  }
  return ref;
}

double MaxAbs(const std::vector<float>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    worst = std::max(worst, std::abs(got[i] - want[i]));
  }
  return worst;
}

template <typename T>
constexpr DType DTypeOf() {
  return std::is_same_v<T, float> ? DType::kFloat32 : DType::kBFloat16;
}

template <typename T>
void CheckFullHead() {
  auto gemm = GemmRunner::Create(nullptr);
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  const int64_t B = 2, S = 4133, R = B * S;
  ASSERT_GT(R, kHeadChunkRows);
  std::mt19937 rng(7);
  const auto z = RandomValues<T>(R * kH, 1.f, rng);
  const auto w = RandomValues<T>(kV * kH, 0.1f, rng);
  std::vector<int32_t> targets(R);
  std::uniform_int_distribution<int32_t> tok(0, kV - 1);
  for (int64_t r = 0; r < R; ++r) targets[r] = (r % S == S - 1) ? -1 : tok(rng);
  DeviceBuffer dz = Upload<T>(z), dw = Upload<T>(w);
  DeviceBuffer logits = Poisoned<float>(kHeadChunkRows * kV), lp = Poisoned<float>(R);
  auto dt = DeviceBuffer::Allocate(R * sizeof(int32_t));
  ASSERT_TRUE(dt.ok()) << dt.status();
  ASSERT_EQ(cudaMemcpy(dt->get(), targets.data(), R * sizeof(int32_t), cudaMemcpyHostToDevice),
            cudaSuccess);

  std::vector<float> logits_host(R * kV, kNaN), lp_host(R, kNaN);
  RunRequest r;
  r.batch = B;
  r.seq = S;
  r.targets_host = targets.data();  // log-probs wanted (the head reads targets from the device)
  r.logits_host = logits_host.data();
  r.log_probs_host = lp_host.data();
  const absl::Status st = RunChunkedHead({.z = dz.get(),
                                          .weight = dw.get(),
                                          .operand = DTypeOf<T>(),
                                          .batch = B,
                                          .seq = S,
                                          .hidden = kH,
                                          .vocab = kV,
                                          .logits = logits.as<float>(),
                                          .targets = dt->as<int32_t>(),
                                          .log_probs = lp.as<float>()},
                                         r, **gemm, nullptr);
  ASSERT_TRUE(st.ok()) << st;

  const ReferenceHead ref = Reference(z, w, targets, R);
  const double logits_rel = RelL2(logits_host, ref.logits);
  // The partial last chunk on its own: a wrong row offset there leaves NaN or wrong rows.
  const std::vector<float> tail_got(logits_host.begin() + kHeadChunkRows * kV, logits_host.end());
  const std::vector<double> tail_want(ref.logits.begin() + kHeadChunkRows * kV, ref.logits.end());
  const double tail_rel = RelL2(tail_got, tail_want);
  const double lp_err = MaxAbs(lp_host, ref.lp);
  std::printf("[%s] R=%lld: logits rel-L2 %.2e (last chunk %.2e), log-prob max-abs %.2e\n",
              std::is_same_v<T, float> ? "fp32" : "bf16", static_cast<long long>(R), logits_rel,
              tail_rel, lp_err);
  // The operands are exact in the float64 product (already rounded to T); the GEMM accumulates
  // 64 terms in fp32 into an fp32 result (~1e-7 relative each): 1e-5 leaves 100× margin, while
  // any wrong row, chunk offset or weight layout is O(1).
  EXPECT_LE(logits_rel, 1e-5);
  EXPECT_LE(tail_rel, 1e-5);
  // |lp| ≤ ~10 here; the fp32 log-sum-exp over 512 values errs ~1e-6: 1e-4 is loose yet far below
  // a wrong target (O(1)).
  EXPECT_LE(lp_err, 1e-4);
}

TEST(ChunkedHeadTest, Fp32FullAndPartialChunksMatchFloat64) {
  SKIP_WITHOUT_GPU();
  CheckFullHead<float>();
}

TEST(ChunkedHeadTest, Bf16FullAndPartialChunksMatchFloat64) {
  SKIP_WITHOUT_GPU();
  CheckFullHead<BF16>();
}

TEST(ChunkedHeadTest, LastRowsOnlyGivesEachSequencesLastRow) {
  SKIP_WITHOUT_GPU();
  auto gemm = GemmRunner::Create(nullptr);
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  const int64_t B = 3, S = 5, R = B * S;
  std::mt19937 rng(11);
  const auto z = RandomValues<BF16>(R * kH, 1.f, rng);
  const auto w = RandomValues<BF16>(kV * kH, 0.1f, rng);
  DeviceBuffer dz = Upload<BF16>(z), dw = Upload<BF16>(w);
  DeviceBuffer logits = Poisoned<float>(R * kV), lp = Poisoned<float>(R), dt = Poisoned<int32_t>(R);
  const ChunkedHeadOperands head{.z = dz.get(),
                                 .weight = dw.get(),
                                 .operand = DType::kBFloat16,
                                 .batch = B,
                                 .seq = S,
                                 .hidden = kH,
                                 .vocab = kV,
                                 .logits = logits.as<float>(),
                                 .targets = dt.as<int32_t>(),
                                 .log_probs = lp.as<float>()};
  std::vector<float> logits_host(B * kV, kNaN);
  RunRequest r;
  r.batch = B;
  r.seq = S;
  r.head_last_rows_only = true;
  r.logits_host = logits_host.data();
  const absl::Status st = RunChunkedHead(head, r, **gemm, nullptr);
  ASSERT_TRUE(st.ok()) << st;

  const ReferenceHead ref = Reference(z, w, std::vector<int32_t>(R, -1), R);
  std::vector<double> want;
  for (int64_t b = 0; b < B; ++b) {
    const auto row = ref.logits.begin() + (b * S + S - 1) * kV;
    want.insert(want.end(), row, row + kV);
  }
  const double rel = RelL2(logits_host, want);
  std::printf("[bf16 last rows] B=%lld S=%lld: logits rel-L2 %.2e\n", static_cast<long long>(B),
              static_cast<long long>(S), rel);
  EXPECT_LE(rel, 1e-5);  // as the full head: exact operands, fp32 accumulation of 64 terms

  // Prefill needs somewhere to put the logits: a clear refusal, not a silent no-op.
  r.logits_host = nullptr;
  const absl::Status refused = RunChunkedHead(head, r, **gemm, nullptr);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_NE(std::string(refused.message()).find("head_last_rows_only"), std::string::npos)
      << refused;
}

}  // namespace
}  // namespace evo2::cuda
