// The hcl context-parallel kernels (kernels/hyena_long_cp.cuh, docs/parallelism.md §3): a
// sequence of S positions is cut into C chunks of Lc = ⌈S/C⌉ rows (zero-padded at the end, as the
// zigzag split pads), each chunk runs LaunchHyenaLongGate from a zero state, the chunks' end
// states are folded into incoming states and the rank-16 correction is added. The result must be
// what LaunchHyenaLongGate computes over the whole sequence, and a float64 recurrence. Lengths 1,
// 2, odd, prime, fewer tokens than chunks; poles from p ≈ 1 (λ = −1e-6) to p ≈ 0.007 (λ = −5).
#include "kernels/hyena_long_cp.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/hyena_long.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::kernels::testing {
namespace {

constexpr int kModes = kHyenaLongModes;

template <typename T>
class HyenaLongCpTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, __nv_bfloat16>;
TYPED_TEST_SUITE(HyenaLongCpTest, ElementTypes);

template <typename T>
const char* TypeName() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}

// Decay rates −λ log-uniform in [1e-6, 5]: modes that barely decay over the whole sequence (the
// carried state matters for every later chunk) down to modes gone after a few steps.
void RandomPoles(int hidden, std::mt19937& rng, std::vector<float>& log_poles,
                 std::vector<float>& residues) {
  std::uniform_real_distribution<float> u(std::log(1e-6f), std::log(5.f));
  std::normal_distribution<float> nd(0.f, 0.25f);
  log_poles.resize(static_cast<size_t>(hidden) * kModes);
  residues.resize(log_poles.size());
  for (size_t i = 0; i < log_poles.size(); ++i) {
    log_poles[i] = -std::exp(u(rng));
    // Scaled so each mode's impulse response has O(1) energy (Σ_t R² p^{2t} ≈ R² / 2|λ|) capped
    // for the slowest modes so y stays O(10) over a few thousand steps.
    residues[i] = nd(rng) * std::sqrt(std::max(2.f * -log_poles[i], 1e-3f));
  }
}

struct Diff {
  double max_abs = 0, max_ref = 0, rel_l2 = 0;
};
Diff Compare(const std::vector<float>& got, const std::vector<double>& want) {
  Diff d;
  d.rel_l2 = RelL2(got, want);
  for (size_t i = 0; i < got.size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::abs(got[i] - want[i]));
    d.max_ref = std::max(d.max_ref, std::abs(want[i]));
  }
  return d;
}

struct CpCase {
  int seq, chunks, hidden;
};

template <typename T>
void CheckContextParallelHcl(const CpCase& cs, std::mt19937& rng) {
  const int S = cs.seq, C = cs.chunks, H = cs.hidden;
  const int Lc = (S + C - 1) / C;
  const int padded = C * Lc;
  const size_t n = static_cast<size_t>(padded) * H;  // [C, Lc, H] = [1, C·Lc, H]
  // Real rows random, padding rows zero (what the split's pad rows carry does not matter to the
  // real positions: the filter is causal).
  auto q = RandomValues<T>(n, 1.f, rng);
  auto a = RandomValues<T>(n, 1.f, rng);
  std::fill(q.begin() + static_cast<size_t>(S) * H, q.end(), 0.f);
  std::fill(a.begin() + static_cast<size_t>(S) * H, a.end(), 0.f);
  auto d = RandomValues<float>(H, 0.3f, rng);
  std::vector<float> lp, res;
  RandomPoles(H, rng, lp, res);
  DeviceBuffer dq = Upload<T>(q), da = Upload<T>(a), dlp = Upload<float>(lp),
               dr = Upload<float>(res), dd = Upload<float>(d);

  // Whole sequence in one gate call: the result CP must reproduce.
  DeviceBuffer d_full = Poisoned<T>(n);
  {
    const size_t ws_bytes = HyenaLongWorkspaceBytes(1, padded, H);
    auto ws = DeviceBuffer::Allocate(ws_bytes);
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(LaunchHyenaLongGate<T>(dq.as<T>(), da.as<T>(), dlp.as<float>(), dr.as<float>(),
                                       dd.as<float>(), d_full.as<T>(), ws->get(), ws_bytes, 1,
                                       padded, H, nullptr)
                    .ok());
  }
  // 1. Every chunk from zero, as a batch of C sequences of Lc rows: o⁰ and e.
  DeviceBuffer d_out = Poisoned<T>(n);
  DeviceBuffer d_end = Poisoned<float>(static_cast<size_t>(C) * H * kModes);  // [C, H, 16]
  {
    const size_t ws_bytes = HyenaLongWorkspaceBytes(C, Lc, H);
    auto ws = DeviceBuffer::Allocate(ws_bytes);
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(LaunchHyenaLongGate<T>(dq.as<T>(), da.as<T>(), dlp.as<float>(), dr.as<float>(),
                                       dd.as<float>(), d_out.as<T>(), ws->get(), ws_bytes, C, Lc, H,
                                       nullptr)
                    .ok());
    const size_t es_bytes = HyenaLongEndStateWorkspaceBytes(C, Lc, H);
    auto es = DeviceBuffer::Allocate(std::max<size_t>(es_bytes, 1));
    ASSERT_TRUE(es.ok());
    const absl::Status st = LaunchHyenaLongEndState<T>(
        da.as<T>(), dlp.as<float>(), d_end.as<float>(), es->get(), es_bytes, C, Lc, H, nullptr);
    ASSERT_TRUE(st.ok()) << st;
  }
  const std::vector<float> uncorrected = Download<T>(d_out, n);
  // 2. The fold, all chunks in one call (B = C) ...
  std::vector<int32_t> all_chunks(C);
  for (int k = 0; k < C; ++k) all_chunks[k] = k;
  DeviceBuffer d_in = Poisoned<float>(static_cast<size_t>(C) * H * kModes);  // [C, H, 16]
  {
    const absl::Status st =
        LaunchHyenaLongIncomingState(d_end.as<float>(), nullptr, C, all_chunks.data(), C,
                                     dlp.as<float>(), Lc, H, d_in.as<float>(), nullptr);
    ASSERT_TRUE(st.ok()) << st;
  }
  const std::vector<float> incoming = Download<float>(d_in, static_cast<size_t>(C) * H * kModes);
  // ... and as zigzag ranks see it (C even): end states gathered rank-major, rank r folding its
  // chunks {r, C−1−r} as B = 2. Same arithmetic in the same order: bit-identical.
  if (C % 2 == 0) {
    const size_t state_floats = static_cast<size_t>(H) * kModes;
    DeviceBuffer d_gathered = Poisoned<float>(C * state_floats);
    std::vector<int32_t> slot_of_chunk(C);
    for (int r = 0; r < C / 2; ++r) {
      slot_of_chunk[r] = 2 * r;
      slot_of_chunk[C - 1 - r] = 2 * r + 1;
    }
    for (int k = 0; k < C; ++k) {
      ASSERT_EQ(cudaMemcpy(d_gathered.as<float>() + slot_of_chunk[k] * state_floats,
                           d_end.as<float>() + k * state_floats, state_floats * sizeof(float),
                           cudaMemcpyDeviceToDevice),
                cudaSuccess);
    }
    for (int r = 0; r < C / 2; ++r) {
      const int32_t mine[2] = {r, C - 1 - r};
      DeviceBuffer d_rank = Poisoned<float>(2 * state_floats);
      ASSERT_TRUE(LaunchHyenaLongIncomingState(d_gathered.as<float>(), slot_of_chunk.data(), C,
                                               mine, 2, dlp.as<float>(), Lc, H, d_rank.as<float>(),
                                               nullptr)
                      .ok());
      const std::vector<float> got = Download<float>(d_rank, 2 * state_floats);
      for (int j = 0; j < 2; ++j) {
        EXPECT_TRUE(std::equal(got.begin() + j * state_floats, got.begin() + (j + 1) * state_floats,
                               incoming.begin() + mine[j] * state_floats))
            << "zigzag fold of chunk " << mine[j] << " on rank " << r;
      }
    }
  }
  // 3. The correction, all chunks as one batch.
  {
    const absl::Status st =
        LaunchHyenaLongStateCorrection<T>(dq.as<T>(), d_in.as<float>(), dlp.as<float>(),
                                          dr.as<float>(), d_out.as<T>(), C, Lc, H, nullptr);
    ASSERT_TRUE(st.ok()) << st;
  }

  // float64 references: the recurrence over the whole sequence (o), each chunk's end state from
  // zero, each chunk's incoming state.
  std::vector<double> want(n), want_end(static_cast<size_t>(C) * H * kModes),
      want_in(want_end.size());
  for (int c = 0; c < H; ++c) {
    double st[kModes] = {0}, zero_st[kModes] = {0}, pole[kModes];
    for (int m = 0; m < kModes; ++m) pole[m] = std::exp(double(lp[c * kModes + m]));
    for (int t = 0; t < padded; ++t) {
      const int k = t / Lc;
      if (t % Lc == 0) {
        for (int m = 0; m < kModes; ++m) {
          want_in[(static_cast<size_t>(k) * H + c) * kModes + m] = st[m];
          zero_st[m] = 0;
        }
      }
      const size_t o = static_cast<size_t>(t) * H + c;
      double y = 0;
      for (int m = 0; m < kModes; ++m) {
        st[m] = pole[m] * st[m] + a[o];
        zero_st[m] = pole[m] * zero_st[m] + a[o];
        y += res[c * kModes + m] * st[m];
      }
      want[o] = (y + d[c] * a[o]) * q[o];
      if (t % Lc == Lc - 1) {
        for (int m = 0; m < kModes; ++m)
          want_end[(static_cast<size_t>(k) * H + c) * kModes + m] = zero_st[m];
      }
    }
  }
  const std::vector<float> got_end = Download<float>(d_end, want_end.size());
  const std::vector<float> got = Download<T>(d_out, n);
  const std::vector<float> full = Download<T>(d_full, n);
  // Only the real rows count (the padding rows have q = 0 anyway).
  const size_t real = static_cast<size_t>(S) * H;
  auto head = [real](const std::vector<float>& v) {
    return std::vector<float>(v.begin(), v.begin() + real);
  };
  const std::vector<double> want_real(want.begin(), want.begin() + real);
  std::vector<double> full_d(full.begin(), full.begin() + real);
  const Diff end_f64 = Compare(got_end, want_end);
  const Diff in_f64 = Compare(incoming, want_in);
  const Diff vs_gate = Compare(head(got), full_d);
  const Diff vs_f64 = Compare(head(got), want_real);
  const Diff gate_f64 = Compare(head(full), want_real);
  const Diff uncorr = Compare(head(uncorrected), full_d);
  std::printf(
      "hcl-cp %s S=%d C=%d Lc=%d H=%d | end vs f64 rel-L2 %.2e | incoming vs f64 rel-L2 %.2e | "
      "o vs whole-seq gate max-abs %.2e (max|o| %.2f) rel-L2 %.2e | o vs f64 rel-L2 %.2e | gate "
      "vs f64 rel-L2 %.2e | uncorrected vs gate rel-L2 %.2e\n",
      TypeName<T>(), S, C, Lc, H, end_f64.rel_l2, in_f64.rel_l2, vs_gate.max_abs, vs_gate.max_ref,
      vs_gate.rel_l2, vs_f64.rel_l2, gate_f64.rel_l2, uncorr.rel_l2);
  // States are fp32 whatever T is (inputs are exact in both): sub-chunks of ≤ 256 steps each
  // multiply by the rounded pole ≤ 256 times (≤ 1.5e-5 relative in the slowest modes), the
  // combination and fold run in double.
  EXPECT_LE(end_f64.rel_l2, 2e-5);
  EXPECT_LE(in_f64.rel_l2, 2e-5);
  // fp32: both paths carry fp32 states over ≤ 256-step chunks (hyena_test.cc's bound, 1e-4).
  // bf16: both round o to bf16 (2^-9 relative); the CP path rounds o⁰ and then o⁰ + q·corr, the
  // whole-sequence gate rounds y, y + D·a and o (model.md §10): a few 2^-9 steps, so 1e-2.
  const double tol = std::is_same_v<T, float> ? 1e-4 : Tolerance<T>();
  EXPECT_LE(vs_gate.rel_l2, tol);
  EXPECT_LE(vs_f64.rel_l2, tol);
  // The test must be able to fail: where a later chunk holds real rows, dropping the correction
  // is far outside the tolerance.
  if (S > Lc) {
    EXPECT_GT(uncorr.rel_l2, 10 * tol) << "the correction does not matter here";
  }
}

TYPED_TEST(HyenaLongCpTest, ChunksWithFoldedStateEqualWholeSequence) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(2026);
  const CpCase cases[] = {
      {1, 4, 96},      // one real token, three empty chunks
      {2, 2, 32},      // Lc = 1
      {3, 4, 96},      // fewer tokens than chunks
      {97, 4, 96},     // prime
      {255, 6, 160},   // odd, H not a multiple of the 128-channel blocks
      {1009, 3, 64},   // prime, odd chunk count
      {4099, 8, 48},   // prime, 8 chunks (CP = 4), Lc = 513: several sub-chunks per chunk
      {40001, 2, 32},  // Lc = 20001 > 16384: end-state sub-chunks longer than 64
  };
  for (const CpCase& cs : cases) CheckContextParallelHcl<TypeParam>(cs, rng);
}

TEST(HyenaLongCpValidationTest, RefusesBadArguments) {
  SKIP_WITHOUT_GPU();
  float* p = reinterpret_cast<float*>(256);
  const int32_t ok_target[1] = {1}, bad_target[1] = {4};
  // target outside [0, num_chunks)
  absl::Status st =
      LaunchHyenaLongIncomingState(p, nullptr, 4, bad_target, 1, p, 8, 16, p, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("target 4"), std::string::npos) << st;
  // too many chunks / targets
  EXPECT_FALSE(LaunchHyenaLongIncomingState(p, nullptr, kHyenaLongMaxFoldChunks + 1, ok_target, 1,
                                            p, 8, 16, p, nullptr)
                   .ok());
  std::vector<int32_t> many(kHyenaLongMaxFoldTargets + 1, 0);
  EXPECT_FALSE(LaunchHyenaLongIncomingState(p, nullptr, 4, many.data(),
                                            static_cast<int64_t>(many.size()), p, 8, 16, p, nullptr)
                   .ok());
  // negative slot
  const int32_t slots[4] = {0, -1, 2, 3};
  EXPECT_FALSE(LaunchHyenaLongIncomingState(p, slots, 4, ok_target, 1, p, 8, 16, p, nullptr).ok());
  // workspace too small, null pointers, bad shapes
  st = LaunchHyenaLongEndState<float>(p, p, p, p, 4, 1, 100, 16, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("workspace"), std::string::npos) << st;
  EXPECT_FALSE(LaunchHyenaLongEndState<float>(nullptr, p, p, p, 1 << 20, 1, 8, 16, nullptr).ok());
  EXPECT_FALSE(
      LaunchHyenaLongStateCorrection<float>(p, p, p, p, p, 1, 8, 0, nullptr).ok());  // H = 0
  EXPECT_FALSE(LaunchHyenaLongStateCorrection<float>(p, p, p, nullptr, p, 1, 8, 16, nullptr).ok());
}

}  // namespace
}  // namespace evo2::kernels::testing
