// Forward-pass benchmark of the Llama ("Eden") family on the cuda backend (bench/RESULTS.md):
// random bf16 weights at the real shapes, random A/C/G/T tokens, log-probs only (as scoring
// does). Shapes (golden/l_eden_a/README.md; Llama-3.1-8B's config.json):
//   eden7b  : 32 layers, H 4096, 32 query / 8 KV heads of 128, F 14336, V 512 (byte tokens)
//   llama8b : the same with Llama 3.1's vocabulary V 128256
// Per row: warm-up, then timed runs with CUDA events around each forward; the median gives
// tokens/s. Memory: the engine's device bytes (weights + workspace + library scratch) and the
// device's used memory (cudaMemGetInfo) after the runs, which is the peak: everything is
// allocated before the first forward (Reserve) and nothing during one. The floor is the forward's
// GEMM and attention FLOPs at the card's dense bf16 tensor peak (H100/H200 SXM: 989 TFLOP/s, or
// --peak-tflops):
//   GEMMs     2·R·(H·(n_q + 2 n_kv)·d + n_q·d·H + 3·F·H)·L + 2·R·H·V
//   attention 2·B·S²·n_q·d·L            (causal: half of 4·S²·d per head)
// and "% of floor" = floor time / measured time; also printed against the bf16 GEMM rate cuBLAS
// reaches on these cards (790 TFLOP/s, kernels/NOTES.md), the practical ceiling. --profile adds
// a per-stage breakdown.
//
//   evo2_llama_bench [--rows eden7b:1x8192,eden7b:1x131072] [--profile] [--peak-tflops T]
// EVO2_CUDA_ATTENTION=own|cudnn|auto picks the attention (llama_cuda_model.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/cuda/bench_models.h"
#include "cuda/llama/llama_cuda_model.h"
#include "cuda/llama/llama_cuda_weights.h"
#include "cuda/llama/llama_cuda_workspace.h"
#include "cuda/stage_timer.h"
#include "evo2/status_macros.h"
#include "hf/llama_config.h"
#include "kernels/cuda_status.cuh"

namespace {

using evo2::cuda::LlamaCudaModel;

struct Row {
  std::string model;  // "eden7b" | "llama8b"
  int64_t batch, seq;
};

// bf16 cuBLAS GEMM rate measured on the H100/H200 (kernels/NOTES.md "Ceilings").
constexpr double kMeasuredGemmFlops = 790e12;

double Gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

struct Flops {
  double gemm = 0, attention = 0;
};
Flops ForwardFlops(const evo2::hf::LlamaConfig& c, int64_t B, int64_t S) {
  const double R = double(B) * S, H = double(c.hidden_size), F = double(c.intermediate_size);
  const double qd = double(c.num_heads * c.head_dim);
  const double ld = double((c.num_heads + 2 * c.num_kv_heads) * c.head_dim);
  const double L = double(c.num_layers), V = double(c.vocab_size);
  return {2 * R * (H * ld + qd * H + 3 * F * H) * L + 2 * R * H * V,
          2.0 * double(B) * double(S) * double(S) * qd * L};
}

absl::Status RunRow(const Row& row, double peak_flops, bool profile) {
  ASSIGN_OR_RETURN(const evo2::hf::LlamaConfig config, evo2::bench::LlamaBenchShape(row.model));
  const int64_t R = row.batch * row.seq;
  const size_t planned =
      evo2::cuda::PlannedLlamaWeightBytes(config, evo2::DType::kBFloat16) +
      evo2::cuda::PlannedLlamaWorkspaceBytes(config, evo2::DType::kBFloat16, row.batch, row.seq);
  std::printf("%s %lldx%lld: planned weights + workspace %.2f GiB\n", row.model.c_str(),
              static_cast<long long>(row.batch), static_cast<long long>(row.seq),
              Gib(double(planned)));
  ASSIGN_OR_RETURN(auto weights, evo2::cuda::LlamaDeviceWeights::Random(
                                     config, evo2::DType::kBFloat16, /*seed=*/11));
  ASSIGN_OR_RETURN(auto model, LlamaCudaModel::Create(config, std::move(weights)));
  RETURN_IF_ERROR(model->Reserve(row.batch, row.seq));
  // Random A/C/G/T tokens; targets = the next token within each sequence, -1 at its end.
  std::vector<int32_t> tokens(static_cast<size_t>(R)), targets(static_cast<size_t>(R));
  std::mt19937 rng(7);
  const int32_t acgt[4] = {65, 67, 71, 84};
  for (auto& t : tokens) t = acgt[rng() % 4];
  for (int64_t i = 0; i < R; ++i)
    targets[i] = (i % row.seq == row.seq - 1) ? -1 : tokens[static_cast<size_t>(i + 1)];
  auto& ws = model->workspace();
  CUDA_RETURN_IF_ERROR(cudaMemcpy(ws.tokens.get(), tokens.data(), R * 4, cudaMemcpyHostToDevice));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(ws.targets.get(), targets.data(), R * 4, cudaMemcpyHostToDevice));
  evo2::cuda::RunRequest req;
  req.batch = row.batch;
  req.seq = row.seq;
  req.tokens_on_device = true;
  const bool long_row = R >= 65536;
  const int warmup = long_row ? 1 : 2, runs = long_row ? 3 : 5;
  for (int i = 0; i < warmup; ++i) RETURN_IF_ERROR(model->Run(req));
  cudaEvent_t start, stop;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    CUDA_RETURN_IF_ERROR(cudaEventRecord(start, model->stream()));
    RETURN_IF_ERROR(model->Run(req));
    CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, model->stream()));
    CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  // NaN never passes, also in a benchmark.
  std::vector<float> lp(static_cast<size_t>(R));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(lp.data(), ws.log_probs.get(), R * 4, cudaMemcpyDeviceToHost));
  for (float v : lp)
    if (!std::isfinite(v)) return absl::InternalError("non-finite log-prob in benchmark output");
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  size_t free_b = 0, total_b = 0;
  CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_b, &total_b));
  const Flops f = ForwardFlops(config, row.batch, row.seq);
  const double floor_s = (f.gemm + f.attention) / peak_flops;
  std::printf(
      "%s %lldx%lld: median %.3f s of %d (min %.3f, max %.3f), %.0f tokens/s, %.0f TFLOP/s; "
      "floor %.3f s (GEMM %.2f + attention %.2f PFLOP at %.0f TFLOP/s) = %.1f %% of floor "
      "(%.1f %% at the 790 TFLOP/s measured GEMM ceiling); engine %.2f GiB, peak device used %.2f "
      "GiB; "
      "attention: %s\n",
      row.model.c_str(), static_cast<long long>(row.batch), static_cast<long long>(row.seq), median,
      runs, times.front(), times.back(), double(R) / median, (f.gemm + f.attention) / median / 1e12,
      floor_s, f.gemm / 1e15, f.attention / 1e15, peak_flops / 1e12, 100 * floor_s / median,
      100 * (f.gemm + f.attention) / kMeasuredGemmFlops / median,
      Gib(double(model->device_bytes())), Gib(double(total_b - free_b)),
      model->attention_note().c_str());
  if (profile) {
    evo2::cuda::StageTimer timer;
    req.timer = &timer;
    RETURN_IF_ERROR(model->Run(req));
    ASSIGN_OR_RETURN(auto totals, timer.TotalsMs());
    const double L = double(config.num_layers), Rd = double(R), H = double(config.hidden_size);
    const double F = double(config.intermediate_size);
    const double qd = double(config.num_heads * config.head_dim);
    const double ld = double((config.num_heads + 2 * config.num_kv_heads) * config.head_dim);
    const std::map<std::string, double> stage_flops = {{"gemm_qkv", 2 * Rd * H * ld * L},
                                                       {"gemm_o", 2 * Rd * qd * H * L},
                                                       {"gemm_gate_up", 2 * Rd * H * 2 * F * L},
                                                       {"gemm_down", 2 * Rd * F * H * L},
                                                       {"attention", f.attention}};
    for (const auto& [stage, ms] : totals) {
      auto it = stage_flops.find(stage);
      if (it == stage_flops.end()) {
        std::printf("  %-16s %9.2f ms (%.0f tokens/s were it the whole forward)\n", stage.c_str(),
                    ms, double(R) / (ms * 1e-3));
      } else {
        std::printf("  %-16s %9.2f ms  %4.0f TFLOP/s (%.0f tokens/s were it the whole forward)\n",
                    stage.c_str(), ms, it->second / (ms * 1e-3) / 1e12, double(R) / (ms * 1e-3));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string rows_arg = "eden7b:1x8192,eden7b:1x131072";
  bool profile = false;
  double peak_tflops = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) {
      rows_arg = argv[++i];
    } else if (a == "--profile") {
      profile = true;
    } else if (a == "--peak-tflops" && i + 1 < argc) {
      peak_tflops = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--rows eden7b:1x8192,...] [--profile] [--peak-tflops T]\n",
                   argv[0]);
      return 2;
    }
  }
  std::vector<Row> rows;
  for (absl::string_view item : absl::StrSplit(rows_arg, ',')) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::ByAnyChar(":x"));
    if (parts.size() != 3) {
      std::fprintf(stderr, "bad row '%s' (want model:BxS)\n", std::string(item).c_str());
      return 2;
    }
    rows.push_back({parts[0], std::atoll(parts[1].c_str()), std::atoll(parts[2].c_str())});
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  const std::string name = prop.name;
  if (peak_tflops <= 0) {
    if (name.find("H100") == std::string::npos && name.find("H200") == std::string::npos) {
      std::fprintf(stderr, "unknown bf16 peak for '%s': pass --peak-tflops\n", name.c_str());
      return 2;
    }
    peak_tflops = 989;  // H100/H200 SXM dense bf16 tensor peak (NVIDIA datasheet)
  }
  std::printf("device: %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount,
              Gib(double(prop.totalGlobalMem)));
  int failed = 0;
  for (const Row& row : rows) {
    const absl::Status s = RunRow(row, peak_tflops * 1e12, profile);
    if (!s.ok()) {
      std::printf("%s %lldx%lld: FAILED %s\n", row.model.c_str(), static_cast<long long>(row.batch),
                  static_cast<long long>(row.seq), s.ToString().c_str());
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}
