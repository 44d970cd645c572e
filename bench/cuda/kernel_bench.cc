// Micro-benchmark of the memory-bound kernels (a program, not a test) at one forward's shape:
// each kernel alone on random data, CUDA events around 20 launches after warm-up, median, and
// the rate against the card's ceilings (floor bytes: each input read once, each output written
// once; FIR also as fp32 FMA rate). Fast to iterate on, and small enough to run under ncu.
//
//   evo2_kernel_bench [--rows 32768] [--hidden 4096] [--inner 11264] [--only fir_hcm] [--match
//   e4m3]
//   (--only: one kernel by name; --match: those whose name contains the text)
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
#include "kernels/fp8_quantize.cuh"
#include "kernels/hyena_featurizer.cuh"
#include "kernels/hyena_fir.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/random_fill.cuh"
#include "kernels/rms_norm.cuh"

namespace {

using BF16 = __nv_bfloat16;

using evo2::bench::Alloc;
using evo2::bench::Check;

double MedianMs(const std::function<absl::Status()>& launch) {
  for (int i = 0; i < 3; ++i) Check(launch(), "warm-up");
  cudaEvent_t a, b;
  Check(cudaEventCreate(&a), "event");
  Check(cudaEventCreate(&b), "event");
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    Check(cudaEventRecord(a), "record");
    Check(launch(), "launch");
    Check(cudaEventRecord(b), "record");
    Check(cudaEventSynchronize(b), "sync");
    float t = 0;
    Check(cudaEventElapsedTime(&t, a, b), "elapsed");
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t R = 32768, H = 4096, I = 11264;
  std::string only, match;
  int64_t G = 0;  // filter groups; default H / 16 (7B, 40B)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) R = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--hidden")) H = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--inner")) I = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
    if (!std::strcmp(argv[i], "--match")) match = argv[i + 1];
    if (!std::strcmp(argv[i], "--groups")) G = std::atoll(argv[i + 1]);
  }
  if (G == 0) G = H / 16;
  auto* big = static_cast<BF16*>(Alloc(R * 3 * H * 2));
  auto* q = static_cast<BF16*>(Alloc(R * H * 2));
  auto* a = static_cast<BF16*>(Alloc(R * H * 2));
  auto* o = static_cast<BF16*>(Alloc(R * H * 2));
  auto* x = static_cast<float*>(Alloc(R * H * 4));
  auto* mlp = static_cast<BF16*>(Alloc(std::min<int64_t>(R, 16384) * 2 * I * 2));
  auto* taps3 = static_cast<float*>(Alloc(3 * H * 3 * 4));
  auto* fir = static_cast<float*>(Alloc(G * 128 * 4));
  auto* poles = static_cast<float*>(Alloc(H * 16 * 4));
  auto* res = static_cast<float*>(Alloc(H * 16 * 4));
  auto* d = static_cast<float*>(Alloc(H * 4));
  auto* scale = static_cast<BF16*>(Alloc(H * 2));
  auto* codes = static_cast<uint8_t*>(Alloc(R * std::max(H, I)));  // E4M3 rows (FP8 linears)
  auto* inv = static_cast<float*>(Alloc(R * 4));
  const size_t hcl_bytes = size_t{1} << 30;
  void* hcl = Alloc(hcl_bytes);
  Check(evo2::kernels::LaunchFillUniform(big, R * 3 * H, -1.f, 1.f, 1, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(q, R * H, -1.f, 1.f, 2, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(a, R * H, -1.f, 1.f, 3, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(x, R * H, -1.f, 1.f, 4, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(mlp, std::min<int64_t>(R, 16384) * 2 * I, -1.f, 1.f, 5, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(taps3, 3 * H * 3, -0.5f, 0.5f, 6, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(fir, G * 128, -0.1f, 0.1f, 7, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(poles, H * 16, -3.f, -0.01f, 8, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(res, H * 16, -0.1f, 0.1f, 9, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(d, H, -0.5f, 0.5f, 10, nullptr), "fill");
  Check(evo2::kernels::LaunchFillUniform(scale, H, 0.5f, 1.5f, 11, nullptr), "fill");
  Check(cudaDeviceSynchronize(), "setup");

  struct Case {
    const char* name;
    double bytes, flops;
    std::function<absl::Status()> launch;
  };
  const double n = double(R) * H;
  const int64_t mr = std::min<int64_t>(R, 16384);
  std::vector<Case> cases = {
      {"featurizer", n * (6 + 4), 0,
       [&] {
         return evo2::kernels::LaunchHyenaFeaturizer<BF16>(big, taps3, q, a, 1, R, H, nullptr);
       }},
      {"fir_hcs", n * 6, n * 2 * 7,
       [&] {
         return evo2::kernels::LaunchHyenaFirGate<BF16>(q, a, fir, nullptr, o, 1, R, H, G, 7,
                                                        nullptr);
       }},
      {"fir_hcm", n * 6, n * 2 * 128,
       [&] {
         return evo2::kernels::LaunchHyenaFirGate<BF16>(q, a, fir, d, o, 1, R, H, G, 128, nullptr);
       }},
      // 32 channels per group: same work on the fp32-FMA kernel (the tensor-core form needs 16).
      {"fir_hcm_fma", n * 6, n * 2 * 128,
       [&] {
         return evo2::kernels::LaunchHyenaFirGate<BF16>(q, a, fir, d, o, 1, R, H, G / 2, 128,
                                                        nullptr);
       }},
      {"long_hcl", n * 6, n * 2 * 2 * 16,
       [&] {
         return evo2::kernels::LaunchHyenaLongGate<BF16>(q, a, poles, res, d, o, hcl, hcl_bytes, 1,
                                                         R, H, nullptr);
       }},
      {"rms_norm", n * 6, 0,
       [&] {
         return evo2::kernels::LaunchRmsNorm<BF16>(x, nullptr, scale, q, R, H, 1e-6f, nullptr);
       }},
      // With the folded out-projection bias: x is read, updated in place and normalised.
      {"rms_norm_bias", n * 10, 0,
       [&] {
         return evo2::kernels::LaunchRmsNorm<BF16>(x, scale, scale, q, R, H, 1e-6f, nullptr);
       }},
      {"mlp_gate", double(mr) * I * 6, 0,
       [&] { return evo2::kernels::LaunchMlpGate<BF16>(mlp, mr, I, false, nullptr); }},
      // The FP8 linears' input (docs/spec/fp8.md): the kernel, then the separate quantisation
      // pass (what EVO2_FP8_FUSED=0 runs), against the kernel that writes the codes itself.
      {"rms_norm+quantize", n * (6 + 3), 0,
       [&]() -> absl::Status {
         absl::Status s =
             evo2::kernels::LaunchRmsNorm<BF16>(x, nullptr, scale, q, R, H, 1e-6f, nullptr);
         if (!s.ok()) return s;
         return evo2::kernels::LaunchQuantizeRowsE4M3<BF16>(q, R, H, H, codes, H, inv, nullptr);
       }},
      {"rms_norm_e4m3", n * (4 + 1), 0,
       [&] {
         return evo2::kernels::LaunchRmsNormE4M3<BF16>(x, nullptr, scale, nullptr,
                                                       {.codes = codes, .ldq = H, .inv_scale = inv},
                                                       R, H, 1e-6f, nullptr);
       }},
      {"mlp_gate+quantize", double(mr) * I * (6 + 3), 0,
       [&]() -> absl::Status {
         absl::Status s = evo2::kernels::LaunchMlpGate<BF16>(mlp, mr, I, false, nullptr);
         if (!s.ok()) return s;
         return evo2::kernels::LaunchQuantizeRowsE4M3<BF16>(mlp, mr, I, 2 * I, codes, I, inv,
                                                            nullptr);
       }},
      {"mlp_gate_e4m3", double(mr) * I * (4 + 1), 0,
       [&] {
         return evo2::kernels::LaunchMlpGateE4M3<BF16>(
             mlp, mr, I, false, {.codes = codes, .ldq = I, .inv_scale = inv}, nullptr);
       }},
  };
  std::printf("| kernel (R=%lld, H=%lld) | ms | GB/s (floor bytes) | %% of 4.3 TB/s | fp32 TFLOP/s |\n",
              static_cast<long long>(R), static_cast<long long>(H));
  std::printf("| --- | --- | --- | --- | --- |\n");
  for (const Case& c : cases) {
    if (!only.empty() && only != c.name) continue;
    if (!match.empty()) {
      bool any = false;
      for (size_t b = 0; b <= match.size();) {
        const size_t e = std::min(match.find(',', b), match.size());
        any |= e > b && std::string(c.name).find(match.substr(b, e - b)) != std::string::npos;
        b = e + 1;
      }
      if (!any) continue;
    }
    const double ms = MedianMs(c.launch);
    std::printf("| %s | %.3f | %.0f | %.0f %% | %.1f |\n", c.name, ms, c.bytes / ms / 1e6,
                c.bytes / ms / 1e6 / 43.0, c.flops / ms / 1e9);
  }
  return 0;
}
