// cuDNN fused causal attention (engine/src/cuda/cudnn_attention.h) against a float64 CPU
// reference on fresh random bf16 inputs, at lengths that are no multiple of any tile (1, 7, 100,
// 1000, 4097), batch 2 and 2–4 heads, head dim 128 (the 1B and 7B models) and 64 / 32 where cuDNN
// supports them; and against the own flash kernel (kernels/attention.cuh) on a larger shape.
// Skips without a GPU, and (with Create's status text) where libcudnn.so.9 cannot be loaded.
//
// EVO2_CUDNN_ATTN_BENCH=1 (or 2) also times 1×32 heads×{32 768, 131 072}×128 (cuDNN and the own
// kernel, median of 5 with CUDA events after a warm-up) and prints TFLOP/s and the plan build
// time: one device call gives both the check and the rate.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cudnn_attention.h"
#include "gtest/gtest.h"
#include "kernels/attention.cuh"
#include "kernels/random_fill.cuh"
#include "tests/kernels/gpu_test_util.h"

namespace evo2::cuda {
namespace {

using kernels::DeviceBuffer;
using kernels::testing::Download;
using kernels::testing::Poisoned;
using kernels::testing::RandomValues;
using kernels::testing::RelL2;
using kernels::testing::Upload;
using Bf16 = __nv_bfloat16;

// bf16 operands (inputs exactly representable; the engine rounds P to bf16 before P·V and the
// output to bf16: relative 2^-9 each) against float64: rel-L2 lands at a few 1e-3, so 1e-2.
constexpr double kTolerance = 1e-2;

// Causal attention in float64: want[((b·S + t)·H + h)·d + i]. One thread per (batch, head).
std::vector<double> Reference(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, int B, int H, int S, int d) {
  std::vector<double> want(static_cast<size_t>(B) * H * S * d);
  auto one_head = [&](int b, int h) {
    const size_t base = (static_cast<size_t>(b) * H + h) * S * d;
    std::vector<double> sc(S);
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    for (int t = 0; t < S; ++t) {
      double m = -INFINITY;
      for (int u = 0; u <= t; ++u) {
        double s = 0;
        const size_t qt = base + size_t(t) * d, ku = base + size_t(u) * d;
        for (int i = 0; i < d; ++i) s += double(q[qt + i]) * k[ku + i];
        sc[u] = s * scale;
        m = std::max(m, sc[u]);
      }
      double l = 0;
      for (int u = 0; u <= t; ++u) l += (sc[u] = std::exp(sc[u] - m));
      for (int i = 0; i < d; ++i) {
        double o = 0;
        for (int u = 0; u <= t; ++u) o += sc[u] * v[base + size_t(u) * d + i];
        want[((static_cast<size_t>(b) * S + t) * H + h) * d + i] = o / l;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) threads.emplace_back(one_head, b, h);
  }
  for (auto& t : threads) t.join();
  return want;
}

double MaxAbsError(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    e = std::max(e, std::abs(got[i] - want[i]));
  }
  return e;
}

class CudnnAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    auto created = CudnnAttention::Create(nullptr);
    if (!created.ok()) {
      GTEST_SKIP() << "cuDNN cannot be used here: " << created.status();
    }
    attention_ = std::move(*created);
  }

  // Checks one shape; `required` = false lets cuDNN refuse it (Unimplemented) without failing.
  void Check(int B, int H, int S, int d, std::mt19937& rng, bool required = true) {
    const absl::Status prepared = attention_->Prepare(B, H, S, d);
    if (!required && absl::IsUnimplemented(prepared)) {
      std::printf("[cudnn] B=%d heads=%d S=%d d=%d: not supported by this cuDNN: %s\n", B, H, S,
                  d, std::string(prepared.message()).c_str());
      return;
    }
    ASSERT_TRUE(prepared.ok()) << prepared;
    const size_t n = static_cast<size_t>(B) * H * S * d;
    // Scores of O(1–3) like real attention logits: q·k/√d with unit-variance k entries.
    auto q = RandomValues<Bf16>(n, 1.5f, rng);
    auto k = RandomValues<Bf16>(n, 1.f, rng);
    auto v = RandomValues<Bf16>(n, 1.f, rng);
    DeviceBuffer dq = Upload<Bf16>(q), dk = Upload<Bf16>(k), dv = Upload<Bf16>(v);
    DeviceBuffer dout = Poisoned<Bf16>(n);  // NaN bytes: any element left unwritten fails
    const absl::Status ran =
        attention_->Run(dq.as<Bf16>(), dk.as<Bf16>(), dv.as<Bf16>(), dout.as<Bf16>(), B, H, S, d);
    ASSERT_TRUE(ran.ok()) << ran;
    const std::vector<float> got = Download<Bf16>(dout, n);
    const std::vector<double> want = Reference(q, k, v, B, H, S, d);
    const double rel = RelL2(got, want);
    const SdpaPlan* plan = attention_->FindPlan(B, H, S, d);
    std::printf("[cudnn] B=%d heads=%d S=%d d=%d: rel-L2 %.3e, max |err| %.3e (engine %lld, "
                "plan %.1f ms, workspace %lld B)\n",
                B, H, S, d, rel, MaxAbsError(got, want),
                static_cast<long long>(plan != nullptr ? plan->engine_index : -1),
                plan != nullptr ? plan->build_ms : -1.0,
                static_cast<long long>(plan != nullptr ? plan->workspace_bytes : -1));
    EXPECT_LE(rel, kTolerance) << "B=" << B << " heads=" << H << " S=" << S << " d=" << d;
  }

  std::unique_ptr<CudnnAttention> attention_;
};

TEST_F(CudnnAttentionTest, MatchesFloat64ReferenceHeadDim128) {
  std::printf("[cudnn] loaded cuDNN %zu\n", attention_->cudnn_version());
  std::mt19937 rng(501);
  Check(2, 2, 1, 128, rng);
  Check(2, 3, 7, 128, rng);
  Check(2, 4, 100, 128, rng);
  Check(2, 2, 1000, 128, rng);
  Check(2, 2, 4097, 128, rng);
}

TEST_F(CudnnAttentionTest, MatchesFloat64ReferenceSmallerHeadDims) {
  std::mt19937 rng(502);
  for (int d : {64, 32}) {
    Check(2, 2, 1, d, rng, /*required=*/false);
    Check(2, 3, 100, d, rng, /*required=*/false);
    Check(2, 2, 1000, d, rng, /*required=*/false);
  }
}

// The own flash kernel and cuDNN compute the same function on a longer sequence (both bf16 with
// fp32 softmax, each within a few 1e-3 of the exact result, so within 1e-2 of each other).
TEST_F(CudnnAttentionTest, AgreesWithOwnKernel) {
  const int B = 1, H = 8, S = 8192, d = 128;
  const size_t n = static_cast<size_t>(B) * H * S * d;
  DeviceBuffer dq = Poisoned<Bf16>(n), dk = Poisoned<Bf16>(n), dv = Poisoned<Bf16>(n);
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(dq.as<Bf16>(), n, -2.5f, 2.5f, 601, nullptr).ok());
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(dk.as<Bf16>(), n, -1.7f, 1.7f, 602, nullptr).ok());
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(dv.as<Bf16>(), n, -1.7f, 1.7f, 603, nullptr).ok());
  DeviceBuffer ours = Poisoned<Bf16>(n), theirs = Poisoned<Bf16>(n);
  ASSERT_TRUE(kernels::LaunchCausalAttention<Bf16>(dq.as<Bf16>(), dk.as<Bf16>(), dv.as<Bf16>(),
                                                   ours.as<Bf16>(), B, H, S, d, nullptr)
                  .ok());
  const absl::Status ran = attention_->Run(dq.as<Bf16>(), dk.as<Bf16>(), dv.as<Bf16>(),
                                           theirs.as<Bf16>(), B, H, S, d);
  ASSERT_TRUE(ran.ok()) << ran;
  const std::vector<float> a = Download<Bf16>(ours, n);
  const std::vector<float> b = Download<Bf16>(theirs, n);
  const std::vector<double> a64(a.begin(), a.end());
  const double rel = RelL2(b, a64);
  std::printf("[cudnn] vs own kernel B=%d heads=%d S=%d d=%d: rel-L2 %.3e\n", B, H, S, d, rel);
  EXPECT_LE(rel, kTolerance);
  EXPECT_LE(RelL2(a, a64), 0.0);  // the own kernel's output is finite everywhere too
}

TEST_F(CudnnAttentionTest, PlanCacheIsBoundedAndReused) {
  const auto start = std::chrono::steady_clock::now();
  const size_t cap = CudnnAttention::kMaxCachedPlans;
  for (size_t i = 0; i < cap + 2; ++i) {
    ASSERT_TRUE(attention_->Prepare(1, 2, static_cast<int64_t>(16 + i), 128).ok());
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[cudnn] %zu plan builds: %.1f ms each on average\n", cap + 2, ms / (cap + 2));
  EXPECT_EQ(attention_->cached_plans(), cap);
  EXPECT_EQ(attention_->FindPlan(1, 2, 16, 128), nullptr);  // least recently used: dropped
  const SdpaPlan* newest = attention_->FindPlan(1, 2, static_cast<int64_t>(16 + cap + 1), 128);
  ASSERT_NE(newest, nullptr);
  ASSERT_TRUE(attention_->Prepare(1, 2, static_cast<int64_t>(16 + cap + 1), 128).ok());
  EXPECT_EQ(attention_->FindPlan(1, 2, static_cast<int64_t>(16 + cap + 1), 128), newest);
}

TEST_F(CudnnAttentionTest, RefusesBadArguments) {
  DeviceBuffer buf = Poisoned<Bf16>(64 * 128);
  Bf16* p = buf.as<Bf16>();
  EXPECT_EQ(attention_->Run(p + 1, p, p, p, 1, 1, 8, 128).code(),
            absl::StatusCode::kInvalidArgument);  // misaligned q
  EXPECT_EQ(attention_->Run(p, nullptr, p, p, 1, 1, 8, 128).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(attention_->Prepare(1, 0, 8, 128).code(), absl::StatusCode::kInvalidArgument);
}

// ---- Timing (a program's job, kept here so one device call checks and times) ----

float MedianMs(const std::function<absl::Status()>& launch, int reps) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(start, nullptr);
    const absl::Status s = launch();
    cudaEventRecord(stop, nullptr);
    cudaEventSynchronize(stop);
    if (!s.ok()) {
      ADD_FAILURE() << s;
      return NAN;
    }
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

TEST_F(CudnnAttentionTest, Benchmark) {
  const char* flag = std::getenv("EVO2_CUDNN_ATTN_BENCH");
  if (flag == nullptr || (std::string(flag) != "1" && std::string(flag) != "2")) {
    GTEST_SKIP() << "timing runs with EVO2_CUDNN_ATTN_BENCH=1 (or 2)";
  }
  std::printf("[bench] cuDNN %zu; FLOPs = 2·B·heads·S²·d (causal: half of 4·B·heads·S²·d)\n",
              attention_->cudnn_version());
  std::printf("[bench] %-22s %12s %10s %12s %10s %14s %12s\n", "shape", "cudnn ms", "TFLOP/s",
              "own ms", "TFLOP/s", "plan build ms", "rel-L2 vs own");
  for (int S : {32768, 131072}) {
    const int B = 1, H = 32, d = 128;
    const size_t n = static_cast<size_t>(B) * H * S * d;
    DeviceBuffer q = Poisoned<Bf16>(n), k = Poisoned<Bf16>(n), v = Poisoned<Bf16>(n);
    DeviceBuffer o1 = Poisoned<Bf16>(n), o2 = Poisoned<Bf16>(n);
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(q.as<Bf16>(), n, -2.5f, 2.5f, 11, nullptr).ok());
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(k.as<Bf16>(), n, -1.7f, 1.7f, 12, nullptr).ok());
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(v.as<Bf16>(), n, -1.7f, 1.7f, 13, nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto t0 = std::chrono::steady_clock::now();
    const absl::Status prepared = attention_->Prepare(B, H, S, d);
    const double build_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(prepared.ok()) << prepared;
    auto cudnn = [&] {
      return attention_->Run(q.as<Bf16>(), k.as<Bf16>(), v.as<Bf16>(), o1.as<Bf16>(), B, H, S, d);
    };
    auto own = [&] {
      return kernels::LaunchCausalAttention<Bf16>(q.as<Bf16>(), k.as<Bf16>(), v.as<Bf16>(),
                                                  o2.as<Bf16>(), B, H, S, d, nullptr);
    };
    ASSERT_TRUE(cudnn().ok());  // warm-up
    ASSERT_TRUE(own().ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const float t_cudnn = MedianMs(cudnn, 5);
    const float t_own = MedianMs(own, 5);
    const double flops = 2.0 * B * H * double(S) * double(S) * d;
    const std::vector<float> a = Download<Bf16>(o2, n);
    const std::vector<float> b = Download<Bf16>(o1, n);
    const double rel = RelL2(b, std::vector<double>(a.begin(), a.end()));
    const SdpaPlan* plan = attention_->FindPlan(B, H, S, d);
    char shape[64];
    std::snprintf(shape, sizeof(shape), "%dx%dx%dx%d", B, H, S, d);
    std::printf("[bench] %-22s %12.2f %10.1f %12.2f %10.1f %14.1f %12.3e  (engine %lld, "
                "workspace %lld B)\n",
                shape, t_cudnn, flops / (t_cudnn * 1e-3) / 1e12, t_own,
                flops / (t_own * 1e-3) / 1e12, build_ms, rel,
                static_cast<long long>(plan != nullptr ? plan->engine_index : -1),
                static_cast<long long>(plan != nullptr ? plan->workspace_bytes : -1));
    EXPECT_LE(rel, kTolerance);
  }
}

// EVO2_CUDNN_ATTN_BENCH=2: every engine configuration the heuristics offer (that finalizes),
// timed at 32k and 131k, to see whether the first choice is the fastest.
TEST_F(CudnnAttentionTest, BenchmarkEngineChoices) {
  const char* flag = std::getenv("EVO2_CUDNN_ATTN_BENCH");
  if (flag == nullptr || std::string(flag) != "2") {
    GTEST_SKIP() << "engine choices are timed with EVO2_CUDNN_ATTN_BENCH=2";
  }
  auto api = CudnnApi::Load();
  ASSERT_TRUE(api.ok()) << api.status();
  const CudnnApi& a = **api;
  cudnnHandle_t handle = nullptr;
  ASSERT_TRUE(a.Check(a.Create(&handle), "cudnnCreate").ok());
  for (int S : {32768, 131072}) {
    const int B = 1, H = 32, d = 128;
    const size_t n = static_cast<size_t>(B) * H * S * d;
    DeviceBuffer q = Poisoned<Bf16>(n), k = Poisoned<Bf16>(n), v = Poisoned<Bf16>(n);
    DeviceBuffer o = Poisoned<Bf16>(n);
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(q.as<Bf16>(), n, -2.5f, 2.5f, 21, nullptr).ok());
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(k.as<Bf16>(), n, -1.7f, 1.7f, 22, nullptr).ok());
    ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(v.as<Bf16>(), n, -1.7f, 1.7f, 23, nullptr).ok());
    const double flops = 2.0 * B * H * double(S) * double(S) * d;
    for (int choice = 0; choice < 12; ++choice) {
      auto plan = BuildCausalSdpaPlan(a, handle, SdpaShape{B, H, S, d}, choice);
      if (!plan.ok()) {
        std::printf("[engines] S=%d: %d working configurations (%s)\n", S, choice,
                    std::string(plan.status().message()).c_str());
        break;
      }
      auto ws = DeviceBuffer::Allocate(static_cast<size_t>((*plan)->workspace_bytes));
      ASSERT_TRUE(ws.ok()) << ws.status();
      auto launch = [&] {
        return ExecuteSdpaPlan(a, handle, **plan, q.get(), k.get(), v.get(), o.get(), ws->get());
      };
      ASSERT_TRUE(launch().ok());
      const float ms = MedianMs(launch, 3);
      std::printf("[engines] S=%d choice %d: engine %lld, %.2f ms, %.1f TFLOP/s, build %.1f ms\n",
                  S, choice, static_cast<long long>((*plan)->engine_index), ms,
                  flops / (ms * 1e-3) / 1e12, (*plan)->build_ms);
    }
  }
  a.Destroy(handle);
}

// EVO2_CUDNN_ATTN_BENCH=2: 1 × 32 heads × 1 048 576 × 128 (the 1M-token forward): one timed run,
// and the last head (the largest offsets: 31·2^27 elements, output rows of 2^12 · 2^20) against
// the own kernel run on that head alone.
TEST_F(CudnnAttentionTest, OneMillionTokens) {
  const char* flag = std::getenv("EVO2_CUDNN_ATTN_BENCH");
  if (flag == nullptr || std::string(flag) != "2") {
    GTEST_SKIP() << "the 1M-token run needs EVO2_CUDNN_ATTN_BENCH=2";
  }
  const int64_t B = 1, H = 32, S = int64_t{1} << 20, d = 128;
  const size_t n = static_cast<size_t>(B * H * S * d);
  DeviceBuffer q = Poisoned<Bf16>(n), k = Poisoned<Bf16>(n), v = Poisoned<Bf16>(n);
  DeviceBuffer o = Poisoned<Bf16>(n);
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(q.as<Bf16>(), n, -2.5f, 2.5f, 31, nullptr).ok());
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(k.as<Bf16>(), n, -1.7f, 1.7f, 32, nullptr).ok());
  ASSERT_TRUE(kernels::LaunchFillUniform<Bf16>(v.as<Bf16>(), n, -1.7f, 1.7f, 33, nullptr).ok());
  const auto t0 = std::chrono::steady_clock::now();
  const absl::Status prepared = attention_->Prepare(B, H, S, d);
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(prepared.ok()) << prepared;
  auto run = [&] {
    return attention_->Run(q.as<Bf16>(), k.as<Bf16>(), v.as<Bf16>(), o.as<Bf16>(), B, H, S, d);
  };
  const float ms = MedianMs(run, 1);
  const double flops = 2.0 * B * H * double(S) * double(S) * d;
  std::printf("[1M] 1x32x1048576x128: %.1f ms, %.1f TFLOP/s, plan build %.1f ms\n", ms,
              flops / (ms * 1e-3) / 1e12, build_ms);
  // Head 31 alone through the own kernel: [1, S, d].
  const size_t head = static_cast<size_t>(S * d);
  DeviceBuffer own = Poisoned<Bf16>(head);
  ASSERT_TRUE(kernels::LaunchCausalAttention<Bf16>(q.as<Bf16>() + 31 * head,
                                                   k.as<Bf16>() + 31 * head,
                                                   v.as<Bf16>() + 31 * head, own.as<Bf16>(), 1, 1,
                                                   S, d, nullptr)
                  .ok());
  // cuDNN's head 31: columns [31·d, 32·d) of each [H·d] output row.
  std::vector<Bf16> got(head);
  ASSERT_EQ(cudaMemcpy2D(got.data(), d * sizeof(Bf16), o.as<Bf16>() + 31 * d,
                         H * d * sizeof(Bf16), d * sizeof(Bf16), S, cudaMemcpyDeviceToHost),
            cudaSuccess);
  const std::vector<float> want_f = Download<Bf16>(own, head);
  std::vector<float> got_f(head);
  for (size_t i = 0; i < head; ++i) got_f[i] = __bfloat162float(got[i]);
  const double rel = RelL2(got_f, std::vector<double>(want_f.begin(), want_f.end()));
  std::printf("[1M] head 31 vs own kernel: rel-L2 %.3e\n", rel);
  EXPECT_LE(rel, kTolerance);
}

}  // namespace
}  // namespace evo2::cuda
