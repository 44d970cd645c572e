// Forward-pass benchmark of the NemotronH (Mamba-2 hybrid) family on one GPU: random weights
// at the shape of BioNeMo's `hybrid_mamba_8b` (hf::HybridMamba8bConfig), random A/C/G/T tokens,
// log-probs only (as scoring does). Per length: one warm-up forward, then timed forwards with CUDA
// events around each; the median is reported as tokens/s, with the device memory the engine holds
// (weights + workspace + cuBLAS scratch) and the device's used memory from cudaMemGetInfo after the
// runs (the engine allocates everything up front, so this is the peak). --profile adds one run
// split by stage.
//
//   evo2_nemotron_h_bench [--seqs 8192,131072] [--runs 3] [--fp32] [--profile]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/cuda/bench_models.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "cuda/nemotron_h/nemotron_h_device_weights.h"
#include "cuda/stage_timer.h"
#include "evo2/status_macros.h"
#include "hf/nemotron_h_config.h"
#include "kernels/cuda_status.cuh"

namespace {

using evo2::cuda::CudaNemotronHModel;
using evo2::hf::NemotronHConfig;

double Gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

absl::Status Measure(CudaNemotronHModel& model, int64_t seq, int runs, bool profile) {
  RETURN_IF_ERROR(model.Reserve(1, seq));
  std::vector<int32_t> tokens(seq), targets(seq);
  std::mt19937 rng(7);
  const int32_t acgt[4] = {65, 67, 71, 84};
  for (auto& t : tokens) t = acgt[rng() % 4];
  for (int64_t i = 0; i < seq; ++i) targets[i] = i + 1 < seq ? tokens[i + 1] : -1;
  auto& ws = model.workspace();
  CUDA_RETURN_IF_ERROR(cudaMemcpy(ws.tokens.get(), tokens.data(), seq * 4, cudaMemcpyHostToDevice));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(ws.targets.get(), targets.data(), seq * 4, cudaMemcpyHostToDevice));
  evo2::cuda::RunRequest req;
  req.batch = 1;
  req.seq = seq;
  req.tokens_on_device = true;
  RETURN_IF_ERROR(model.Run(req));  // warm-up
  cudaEvent_t start, stop;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    CUDA_RETURN_IF_ERROR(cudaEventRecord(start, model.stream()));
    RETURN_IF_ERROR(model.Run(req));
    CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, model.stream()));
    CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  // NaN never passes, also in a benchmark.
  std::vector<float> lp(seq);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(lp.data(), ws.log_probs.get(), seq * 4, cudaMemcpyDeviceToHost));
  double mean = 0;
  for (float v : lp) {
    if (!std::isfinite(v)) return absl::InternalError("non-finite log-prob in benchmark output");
    mean += v;
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  size_t free_b = 0, total_b = 0;
  CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_b, &total_b));
  std::printf(
      "hybrid_mamba_8b %s scan-%s 1x%lld: %.4f s median of %d (min %.4f), %.0f tokens/s, engine "
      "%.2f GiB, device used %.2f of %.2f GiB, mean log-prob %.3f\n",
      model.backend_name().c_str(),
      model.ssd_variant() == evo2::kernels::SsdScanVariant::kV2 ? "v2" : "v1",
      static_cast<long long>(seq), median, runs, times[0], seq / median,
      Gib(double(model.device_bytes())), Gib(double(total_b - free_b)), Gib(double(total_b)),
      mean / seq);
  if (profile) {
    evo2::cuda::StageTimer timer;
    req.timer = &timer;
    RETURN_IF_ERROR(model.Run(req));
    ASSIGN_OR_RETURN(auto totals, timer.TotalsMs());
    // One line per profile (stage: ms), longest first.
    std::vector<std::pair<double, std::string>> by_time;
    for (const auto& [stage, ms] : totals) by_time.emplace_back(ms, stage);
    std::sort(by_time.rbegin(), by_time.rend());
    std::string line;
    for (const auto& [ms, stage] : by_time)
      line += " " + stage + " " + std::to_string(ms).substr(0, 7);
    std::printf("hybrid_mamba_8b 1x%lld profile at %.0f tokens/s (ms):%s\n",
                static_cast<long long>(seq), seq / median, line.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> seqs = {8192, 131072};
  int runs = 3;
  bool profile = false, fp32 = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seqs" && i + 1 < argc) {
      seqs.clear();
      for (absl::string_view s : absl::StrSplit(argv[++i], ',')) {
        int64_t v = 0;
        if (!absl::SimpleAtoi(s, &v) || v <= 0) {
          std::fprintf(stderr, "--seqs: '%s' is not a positive length\n", std::string(s).c_str());
          return 2;
        }
        seqs.push_back(v);
      }
    } else if (a == "--runs" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &runs) && runs > 0) {
      ++i;
    } else if (a == "--profile") {
      profile = true;
    } else if (a == "--fp32") {
      fp32 = true;
    } else {
      std::fprintf(stderr, "usage: %s [--seqs 8192,131072] [--runs N] [--fp32] [--profile]\n",
                   argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  const NemotronHConfig config = evo2::hf::HybridMamba8bConfig();
  const evo2::DType act = fp32 ? evo2::DType::kFloat32 : evo2::DType::kBFloat16;
  auto model = evo2::bench::RandomHybridMamba8b(act);
  if (!model.ok()) {
    std::fprintf(stderr, "model error: %s\n", model.status().ToString().c_str());
    return 1;
  }
  const double weight_gib = Gib(double((*model)->weights().bytes));
  std::printf("hybrid_mamba_8b: %zu layers (%s), weights %.2f GiB, attention: %s, SSD scan %s\n",
              config.layers.size(), config.Pattern().c_str(), weight_gib,
              (*model)->attention_note().c_str(),
              (*model)->ssd_variant() == evo2::kernels::SsdScanVariant::kV2 ? "v2" : "v1");
  int failures = 0;
  for (int64_t seq : seqs) {
    const absl::Status s = Measure(**model, seq, runs, profile);
    if (!s.ok()) {
      std::printf("hybrid_mamba_8b 1x%lld: FAILED, error: %s\n", static_cast<long long>(seq),
                  s.ToString().c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
