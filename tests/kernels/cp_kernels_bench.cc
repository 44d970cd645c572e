// Benchmark of the context-parallel kernels (a program, not a test) at 7B-like shapes on one GPU:
// CUDA events around 10 launches after warm-up, median. Prints, per line, what a CP rank runs
// next to what one GPU runs for the whole sequence:
//   attention: the whole-sequence causal kernel vs. one zigzag rank's two query chunks at their
//     offsets against the whole K/V (balanced placement: each rank ≈ 1/CP of the work);
//   hcl: the whole-sequence gate vs. a rank's chunks (gate from zero + end state + fold +
//     correction, or end state + fold + gate from the incoming state), each kernel's time.
//
//   cp_kernels_bench [--seq 32768] [--cp 2] [--hidden 4096] [--heads 32] [--head-dim 128]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/cuda/bench_check.h"
#include "kernels/attention.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"
#include "kernels/random_fill.cuh"

namespace {

using BF16 = __nv_bfloat16;
using evo2::kernels::kHyenaLongModes;

using evo2::bench::Check;

void* Alloc(size_t bytes) {
  void* p = nullptr;
  Check(cudaMalloc(&p, std::max<size_t>(bytes, 1)), "cudaMalloc");
  return p;
}

double MedianMs(const std::function<absl::Status()>& launch) {
  for (int i = 0; i < 3; ++i) Check(launch(), "warm-up");
  cudaEvent_t a, b;
  Check(cudaEventCreate(&a), "event");
  Check(cudaEventCreate(&b), "event");
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    Check(cudaEventRecord(a), "record");
    Check(launch(), "launch");
    Check(cudaEventRecord(b), "record");
    Check(cudaEventSynchronize(b), "sync");
    float t = 0;
    Check(cudaEventElapsedTime(&t, a, b), "elapsed");
    ms.push_back(t);
  }
  Check(cudaEventDestroy(a), "event");
  Check(cudaEventDestroy(b), "event");
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

template <typename T>
T* RandomDevice(int64_t n, float lo, float hi, uint64_t seed) {
  T* p = static_cast<T*>(Alloc(static_cast<size_t>(n) * sizeof(T)));
  Check(evo2::kernels::LaunchFillUniform<T>(p, n, lo, hi, seed, nullptr), "fill");
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t S = 32768, CP = 2, H = 4096, heads = 32, d = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seq")) S = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cp")) CP = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--hidden")) H = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--heads")) heads = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--head-dim")) d = std::atoll(argv[i + 1]);
  }
  const int64_t chunks = 2 * CP, Lc = (S + chunks - 1) / chunks, padded = chunks * Lc;
  cudaDeviceProp prop{};
  Check(cudaGetDeviceProperties(&prop, 0), "device");
  std::printf("cp_kernels_bench on %s: S=%lld CP=%lld (Lc=%lld) H=%lld heads=%lld d=%lld bf16\n",
              prop.name, static_cast<long long>(S), static_cast<long long>(CP),
              static_cast<long long>(Lc), static_cast<long long>(H), static_cast<long long>(heads),
              static_cast<long long>(d));

  // Attention. q, k, v: [1, heads, padded, d]; a rank's chunk queries: [1, heads, Lc, d].
  {
    const int64_t n = heads * padded * d;
    BF16* q = RandomDevice<BF16>(n, -1.f, 1.f, 1);
    BF16* k = RandomDevice<BF16>(n, -1.f, 1.f, 2);
    BF16* v = RandomDevice<BF16>(n, -1.f, 1.f, 3);
    BF16* out = static_cast<BF16*>(Alloc(n * sizeof(BF16)));
    BF16* qc = RandomDevice<BF16>(heads * Lc * d, -1.f, 1.f, 4);
    BF16* oc = static_cast<BF16*>(Alloc(heads * Lc * d * sizeof(BF16)));
    const double causal_flop = 4.0 * heads * d * (double(padded) * padded / 2);
    const double whole = MedianMs([&] {
      return evo2::kernels::LaunchCausalAttention<BF16>(q, k, v, out, 1, heads, padded, d, nullptr);
    });
    std::printf("attention whole sequence (%lld tokens): %.3f ms, %.0f TFLOP/s, %.0f tokens/s\n",
                static_cast<long long>(padded), whole, causal_flop / whole / 1e9,
                padded / whole * 1e3);
    double worst_rank = 0;
    for (int64_t r = 0; r < CP; ++r) {
      const double ms = MedianMs([&]() -> absl::Status {
        for (int64_t chunk : {r, chunks - 1 - r}) {
          absl::Status st = evo2::kernels::LaunchCausalGqaAttentionAtOffset<BF16>(
              qc, k, v, oc, 1, heads, heads, Lc, padded, chunk * Lc, d, nullptr);
          if (!st.ok()) return st;
        }
        return absl::OkStatus();
      });
      worst_rank = std::max(worst_rank, ms);
      std::printf("attention rank %lld (chunks %lld, %lld at offsets): %.3f ms\n",
                  static_cast<long long>(r), static_cast<long long>(r),
                  static_cast<long long>(chunks - 1 - r), ms);
    }
    std::printf(
        "attention slowest rank / whole = %.3f (ideal 1/CP = %.3f): %.0f tokens/s per group of CP "
        "ranks\n",
        worst_rank / whole, 1.0 / CP, padded / worst_rank * 1e3);
    for (void* p : {static_cast<void*>(q), static_cast<void*>(k), static_cast<void*>(v),
                    static_cast<void*>(out), static_cast<void*>(qc), static_cast<void*>(oc)})
      Check(cudaFree(p), "free");
  }

  // hcl. q, a, o: [padded, H] = [chunks, Lc, H]; a rank's chunks as a batch of 2: [2, Lc, H].
  {
    const int64_t n = padded * H;
    BF16* q = RandomDevice<BF16>(n, -1.f, 1.f, 5);
    BF16* a = RandomDevice<BF16>(n, -1.f, 1.f, 6);
    BF16* o = static_cast<BF16*>(Alloc(n * sizeof(BF16)));
    float* lp = RandomDevice<float>(H * kHyenaLongModes, -2.f, -1e-4f, 7);
    float* res = RandomDevice<float>(H * kHyenaLongModes, -0.1f, 0.1f, 8);
    float* dd = RandomDevice<float>(H, -0.3f, 0.3f, 9);
    const size_t ws_whole = evo2::kernels::HyenaLongWorkspaceBytes(1, padded, H);
    const size_t ws_rank = evo2::kernels::HyenaLongWorkspaceBytes(2, Lc, H);
    const size_t ws_end = evo2::kernels::HyenaLongEndStateWorkspaceBytes(2, Lc, H);
    void* ws = Alloc(std::max({ws_whole, ws_rank, ws_end}));
    const size_t state_floats = static_cast<size_t>(H) * kHyenaLongModes;
    float* end = static_cast<float*>(Alloc(chunks * state_floats * sizeof(float)));
    float* incoming = static_cast<float*>(Alloc(2 * state_floats * sizeof(float)));
    Check(cudaMemset(end, 0, chunks * state_floats * sizeof(float)), "memset");
    const int32_t mine[2] = {0, static_cast<int32_t>(chunks - 1)};  // rank 0's zigzag pair
    const double whole = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongGate<BF16>(q, a, lp, res, dd, o, ws, ws_whole, 1, padded,
                                                      H, nullptr);
    });
    const double gate = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongGate<BF16>(q, a, lp, res, dd, o, ws, ws_rank, 2, Lc, H,
                                                      nullptr);
    });
    const double end_ms = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongEndState<BF16>(a, lp, end, ws, ws_end, 2, Lc, H,
                                                          nullptr);
    });
    const double fold = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongIncomingState(end, nullptr, chunks, mine, 2, lp, Lc, H,
                                                         incoming, nullptr);
    });
    const double corr = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongStateCorrection<BF16>(q, incoming, lp, res, o, 2, Lc, H,
                                                                 nullptr);
    });
    const double from_state = MedianMs([&] {
      return evo2::kernels::LaunchHyenaLongGate<BF16>(q, a, lp, res, dd, o, ws, ws_rank, 2, Lc, H,
                                                      nullptr, incoming);
    });
    const double floor_gb = 3.0 * 2 * Lc * H * sizeof(BF16) / 1e9;  // q, o read + o written
    std::printf("hcl whole sequence gate (%lld tokens): %.3f ms, %.0f tokens/s\n",
                static_cast<long long>(padded), whole, padded / whole * 1e3);
    std::printf(
        "hcl rank (2 chunks of %lld): gate from zero %.3f ms + end state %.3f + fold %.3f + "
        "correction %.3f = %.3f ms (%.3f of whole; ideal 1/CP = %.3f); correction at %.0f GB/s "
        "of q, o traffic; %.0f tokens/s per group of CP ranks\n",
        static_cast<long long>(Lc), gate, end_ms, fold, corr, gate + end_ms + fold + corr,
        (gate + end_ms + fold + corr) / whole, 1.0 / CP, floor_gb / corr * 1e3,
        padded / (gate + end_ms + fold + corr) * 1e3);
    const double alt = end_ms + fold + from_state;
    std::printf(
        "hcl rank, alternative: end state %.3f + fold %.3f + gate from incoming state %.3f = %.3f "
        "ms (%.3f of whole); %.0f tokens/s per group of CP ranks\n",
        end_ms, fold, from_state, alt, alt / whole, padded / alt * 1e3);
    for (void* p : {static_cast<void*>(q), static_cast<void*>(a), static_cast<void*>(o),
                    static_cast<void*>(lp), static_cast<void*>(res), static_cast<void*>(dd), ws,
                    static_cast<void*>(end), static_cast<void*>(incoming)})
      Check(cudaFree(p), "free");
  }
  return 0;
}
