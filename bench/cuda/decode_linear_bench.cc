// The decode step's linear layers alone (kernels/skinny_gemm.cuh, a program, not a test): each
// weight shape of an evo2_7b / evo2_1b_base batch-B step, random bf16 data, per variant of the
// few-row kernel: loads in flight per lane (unroll 4, 8, 16 and the default by K) and, for the
// MLP's l1/l2 product, the gate in the epilogue against the product plus the separate gate
// kernel (kernels/mlp_gate.cuh); and the FP8 copy (E4M3 codes, one scale per row: half the
// bytes) the decoder streams for an --fp8 / --full-fp8 model. Achieved GB/s counts the weight
// bytes once (x and y are a few
// KiB); the ceiling printed beside it is this card's device-to-device copy rate (bytes read +
// written), measured first.
//
// Every launch reads a different copy of the weights, cycling over copies that together exceed
// 3× the L2 cache, as in a real step where the 13 GB of weights never stay in L2. 40 launches
// back to back between two events, per-launch time = total / 40, median of 5 such runs: the
// launches queue on the stream, so each row's time includes the per-kernel start and tail a
// decode step pays, not the host's launch cost.
//
//   evo2_decode_linear_bench [--models 7b,1b] [--rows 1]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "bench/cuda/bench_check.h"
#include "kernels/fp8_quantize.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/random_fill.cuh"
#include "kernels/skinny_gemm.cuh"

namespace {

using BF16 = __nv_bfloat16;
using evo2::kernels::SkinnyGemmArgs;
using evo2::kernels::SkinnyOutput;

using evo2::bench::Alloc;
using evo2::bench::Check;

// Median over 5 runs of the mean time of `launches` back-to-back launches (ms per launch).
double MedianLaunchMs(int launches, const std::function<absl::Status(int)>& launch) {
  for (int i = 0; i < 4; ++i) Check(launch(i), "warm-up");
  cudaEvent_t a, b;
  Check(cudaEventCreate(&a), "event");
  Check(cudaEventCreate(&b), "event");
  std::vector<float> ms;
  for (int run = 0; run < 5; ++run) {
    Check(cudaEventRecord(a), "record");
    for (int i = 0; i < launches; ++i) Check(launch(i), "launch");
    Check(cudaEventRecord(b), "record");
    Check(cudaEventSynchronize(b), "sync");
    float t = 0;
    Check(cudaEventElapsedTime(&t, a, b), "elapsed");
    ms.push_back(t / static_cast<float>(launches));
  }
  Check(cudaEventDestroy(a), "event");
  Check(cudaEventDestroy(b), "event");
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Device-to-device copy rate, bytes read + written per second (GB/s), of a 1 GiB copy.
double CopyGbPerS() {
  const size_t bytes = size_t{1} << 30;
  void* src = Alloc(bytes);
  void* dst = Alloc(bytes);
  Check(cudaMemset(src, 1, bytes), "memset");
  const double ms = MedianLaunchMs(4, [&](int) -> absl::Status {
    if (cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice) != cudaSuccess)
      return absl::InternalError("copy");
    return absl::OkStatus();
  });
  Check(cudaFree(src), "free");
  Check(cudaFree(dst), "free");
  return 2.0 * bytes / ms / 1e6;
}

struct Shape {
  const char* name;  // the decoder's layer
  int64_t in, out, ldx;
  bool gated;  // the MLP's [l1; l2] product (out = 2I)
};

}  // namespace

int main(int argc, char** argv) {
  std::string models_arg = "7b,1b";
  int64_t rows = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--models" && i + 1 < argc) {
      models_arg = argv[++i];
    } else if (a == "--rows" && i + 1 < argc) {
      rows = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--models 7b,1b] [--rows 1]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  Check(cudaGetDeviceProperties(&prop, 0), "device");
  const double copy = CopyGbPerS();
  std::printf("device: %s, %d SMs, L2 %d MiB; device copy %.0f GB/s (read + written)\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, copy);
  std::printf(
      "| model | layer [out × in] | rows | variant | µs | weight GB/s | %% of copy rate |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const std::string& model : std::vector<std::string>(absl::StrSplit(models_arg, ','))) {
    const bool big = model == "7b";
    if (!big && model != "1b") {
      std::fprintf(stderr, "unknown model '%s' (7b, 1b)\n", model.c_str());
      return 2;
    }
    const int64_t H = big ? 4096 : 1920, I = big ? 11264 : 5120, V = 512;
    const std::vector<Shape> shapes = {{"in_proj", H, 3 * H, H, false},
                                       {"out_proj", H, H, H, false},
                                       {"mlp_l12", H, 2 * I, H, true},
                                       {"mlp_l3", I, H, 2 * I, false},
                                       {"head", H, V, H, false}};
    for (const Shape& s : shapes) {
      const size_t w_bytes = static_cast<size_t>(s.out * s.in) * sizeof(BF16);
      const int copies = static_cast<int>(
          std::max<size_t>(2, 3 * static_cast<size_t>(prop.l2CacheSize) / w_bytes + 1));
      std::vector<BF16*> w(static_cast<size_t>(copies));
      for (int c = 0; c < copies; ++c) {
        w[static_cast<size_t>(c)] = static_cast<BF16*>(Alloc(w_bytes));
        Check(evo2::kernels::LaunchFillUniform(w[static_cast<size_t>(c)], s.out * s.in, -0.05f,
                                               0.05f, 100 + c, nullptr),
              "fill");
      }
      auto* x = static_cast<BF16*>(Alloc(static_cast<size_t>(rows * s.ldx) * sizeof(BF16)));
      auto* y = static_cast<BF16*>(Alloc(static_cast<size_t>(rows * s.out) * sizeof(BF16)));
      Check(evo2::kernels::LaunchFillUniform(x, rows * s.ldx, -1.f, 1.f, 7, nullptr), "fill");
      Check(cudaDeviceSynchronize(), "setup");
      const auto row = [&](const char* variant, const std::function<absl::Status(int)>& launch) {
        const double ms = MedianLaunchMs(40, launch);
        const double gbs = static_cast<double>(w_bytes) / ms / 1e6;
        std::printf("| %s | %s [%lld × %lld] | %lld | %s | %.1f | %.0f | %.0f %% |\n",
                    model.c_str(), s.name, static_cast<long long>(s.out),
                    static_cast<long long>(s.in), static_cast<long long>(rows), variant, 1e3 * ms,
                    gbs, 100.0 * gbs / copy);
        std::fflush(stdout);
      };
      for (int unroll : {4, 8, 16, 0}) {
        const std::string name =
            unroll == 0 ? "default unroll" : "unroll " + std::to_string(unroll);
        row(name.c_str(), [&](int i) {
          const SkinnyGemmArgs a{.x = x,
                                 .ldx = s.ldx,
                                 .w = w[static_cast<size_t>(i % copies)],
                                 .y = y,
                                 .ldy = s.out,
                                 .rows = rows,
                                 .in = s.in,
                                 .out = s.out,
                                 .unroll = unroll};
          return evo2::kernels::LaunchSkinnyGemm<BF16, BF16>(a, nullptr);
        });
      }
      if (s.gated) {
        row("product + gate kernel", [&](int i) -> absl::Status {
          const SkinnyGemmArgs a{.x = x,
                                 .ldx = s.ldx,
                                 .w = w[static_cast<size_t>(i % copies)],
                                 .y = y,
                                 .ldy = s.out,
                                 .rows = rows,
                                 .in = s.in,
                                 .out = s.out};
          absl::Status st = evo2::kernels::LaunchSkinnyGemm<BF16, BF16>(a, nullptr);
          if (!st.ok()) return st;
          return evo2::kernels::LaunchMlpGate<BF16>(y, rows, s.out / 2, false, nullptr);
        });
        row("gate in the epilogue", [&](int i) {
          const SkinnyGemmArgs a{.x = x,
                                 .ldx = s.ldx,
                                 .w = w[static_cast<size_t>(i % copies)],
                                 .y = y,
                                 .ldy = s.out,
                                 .rows = rows,
                                 .in = s.in,
                                 .out = s.out / 2,
                                 .output = SkinnyOutput::kGatedMlp};
          return evo2::kernels::LaunchSkinnyGemm<BF16, BF16>(a, nullptr);
        });
      }
      // The FP8 copy of each weight copy: codes [out, in] and 1/s per row.
      std::vector<uint8_t*> codes(static_cast<size_t>(copies));
      std::vector<float*> inv(static_cast<size_t>(copies));
      for (int c = 0; c < copies; ++c) {
        const auto i = static_cast<size_t>(c);
        codes[i] = static_cast<uint8_t*>(Alloc(w_bytes / 2));
        inv[i] = static_cast<float*>(Alloc(static_cast<size_t>(s.out) * sizeof(float)));
        Check(evo2::kernels::LaunchQuantizeRowsE4M3<BF16>(w[i], s.out, s.in, s.in, codes[i], s.in,
                                                          inv[i], nullptr),
              "quantize");
      }
      Check(cudaDeviceSynchronize(), "quantize");
      const auto fp8_row = [&](const char* variant, SkinnyOutput output, int64_t out) {
        const double ms = MedianLaunchMs(40, [&](int i) {
          const auto c = static_cast<size_t>(i % copies);
          const SkinnyGemmArgs a{.x = x,
                                 .ldx = s.ldx,
                                 .w = codes[c],
                                 .w_inv_scale = inv[c],
                                 .y = y,
                                 .ldy = s.out,
                                 .rows = rows,
                                 .in = s.in,
                                 .out = out,
                                 .output = output};
          return evo2::kernels::LaunchSkinnyGemm<BF16, BF16>(a, nullptr);
        });
        const double bytes = static_cast<double>(w_bytes / 2 + s.out * sizeof(float));
        std::printf("| %s | %s [%lld × %lld] | %lld | %s | %.1f | %.0f | %.0f %% |\n",
                    model.c_str(), s.name, static_cast<long long>(s.out),
                    static_cast<long long>(s.in), static_cast<long long>(rows), variant, 1e3 * ms,
                    bytes / ms / 1e6, 100.0 * bytes / ms / 1e6 / copy);
        std::fflush(stdout);
      };
      fp8_row("E4M3 weights", SkinnyOutput::kPlain, s.out);
      if (s.gated)
        fp8_row("E4M3 weights, gate in the epilogue", SkinnyOutput::kGatedMlp, s.out / 2);
      for (uint8_t* p : codes) Check(cudaFree(p), "free");
      for (float* p : inv) Check(cudaFree(p), "free");
      for (BF16* p : w) Check(cudaFree(p), "free");
      Check(cudaFree(x), "free");
      Check(cudaFree(y), "free");
    }
  }
  return 0;
}
