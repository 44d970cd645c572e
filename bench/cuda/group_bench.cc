// Forward-pass benchmark of the CUDA engine group (cuda/engine_group/, docs/parallelism.md §7):
// random weights with the real evo2_1b_base / evo2_7b / evo2_40b shapes, one record of random
// A/C/G/T tokens, log-probs only (as scoring does), through Model::Forward (host tokens in,
// host log-probs out). Per row: two warm-up forwards (the second is where the single-GPU model
// builds its cuDNN attention plan, cuda/cudnn_plan_policy.h), then `--runs` timed ones; the
// median wall time is reported as tokens/s, with the device memory the group holds per rank
// (weights shard + scratch) and the most used memory cudaMemGetInfo reports over the GPUs.
//
//   evo2_cuda_group_bench [--model 7b] [--tokens 8192,131072] [--tp 1] [--cp 2] [--runs 5]
//                         [--warmup 2] [--baseline] [--markdown FILE] [--plan-only]
//
// Every length first prints the rank's workspace plan (cuda/engine_group/rank_buffers.h: what
// RankBuffers::Ensure allocates, by buffer, for one rank at that length, bf16) with the weights
// shard and the cuBLAS workspace: the per-rank peak the group needs. --plan-only prints only
// that (no GPU needed), e.g. 1,048,576 and 2,097,152 tokens of the 7B at CP=2 and 4.
//
// Placement as `evo2 predict` does it (cuda/engine_group/rank_placement.h): one GPU per rank
// over NCCL where the machine has TP·CP GPUs, else, with EVO2_CUDA_GROUP=one-gpu, every rank on
// GPU 0 with the in-process communicator — which shows the decomposition's overhead (the ranks
// share one card), not a speed-up. --baseline adds the plain single-GPU model (cuda/cuda_model.h)
// through the same Forward call for comparison.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_weights.h"
#include "cuda/engine_group/cuda_engine_group_model.h"
#include "cuda/engine_group/rank_buffers.h"
#include "cuda/engine_group/rank_placement.h"
#include "cuda/gemm.h"
#include "cuda/in_process_device_communicator.h"
#include "cuda/nccl_communicator.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "parallel/group_layout.h"
#include "parallel/sequence_split.h"

namespace {

using evo2::cuda::CudaEngineGroupModel;

double Gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

std::string Preset(const std::string& m) {
  if (m == "1b") return "evo2_1b_base";
  if (m == "40b") return "evo2_40b";
  return "evo2_7b";
}

// The most memory in use on any GPU (bytes), by cudaMemGetInfo.
double MaxUsedBytes() {
  int n = 0;
  cudaGetDeviceCount(&n);
  double most = 0;
  for (int d = 0; d < n; ++d) {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(d) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      most = std::max(most, double(total_b - free_b));
  }
  cudaSetDevice(0);
  return most;
}

struct Result {
  std::string what;
  int64_t tokens = 0;
  double median_s = 0, tokens_per_s = 0, per_rank_gib = 0, used_gib = 0;
  std::string error;
};

// One rank's planned device memory at S tokens (CP rank 0; all CP ranks plan the same), with the
// largest buffers by name. Weights: the whole model's bytes / TP (the shard plus the replicated
// norms and the embedding's zero row is within a few MB of that).
void PrintPlan(const evo2::ModelConfig& config, int64_t S, int tp, int cp) {
  const evo2::parallel::SequenceSplit split(S, cp);
  const evo2::cuda::RankWorkspacePlan plan =
      evo2::cuda::PlanRankWorkspace(evo2::cuda::MakeRankShape(config, split, tp, sizeof(uint16_t)));
  const double weights =
      double(evo2::cuda::PlannedWeightBytes(config, evo2::DType::kBFloat16)) / tp;
  const double workspace = double(plan.device_bytes());
  const double cublas = double(evo2::cuda::kLtWorkspaceBytes);
  std::string top;
  auto buffers = plan.buffers;
  std::sort(buffers.begin(), buffers.end(),
            [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  for (size_t i = 0; i < std::min<size_t>(6, buffers.size()); ++i)
    absl::StrAppend(&top, i ? ", " : "", buffers[i].name, " ",
                    absl::StrFormat("%.2f", Gib(double(buffers[i].bytes))));
  std::printf(
      "plan TP=%d CP=%d %lld tokens, per rank: %.2f GiB = weights %.2f + workspace %.2f + "
      "cuBLAS %.2f (largest: %s GiB); K/V gather %lld heads x %lld groups; pinned host %.2f "
      "GiB\n",
      tp, cp, static_cast<long long>(S), Gib(weights + workspace + cublas), Gib(weights),
      Gib(workspace), Gib(cublas), top.c_str(), static_cast<long long>(plan.kv.g),
      static_cast<long long>(plan.kv.groups), Gib(double(plan.pinned_host_bytes)));
}

absl::Status Time(evo2::Model& model, int64_t S, int runs, int warmup, int ranks, Result& out) {
  std::vector<int32_t> tokens(static_cast<size_t>(S));
  std::mt19937 rng(7);
  const int32_t acgt[4] = {65, 67, 71, 84};
  for (auto& t : tokens) t = acgt[rng() % 4];
  evo2::ForwardOptions fo;     // log-probs only
  for (int i = 0; i < warmup; ++i)  // warm-up: scratch, cuBLAS heuristics, the cuDNN plan
    RETURN_IF_ERROR(model.Forward(tokens, fo).status());
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(model.Forward(tokens, fo).status());
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  out.median_s = times[times.size() / 2];
  out.tokens_per_s = double(S) / out.median_s;
  out.per_rank_gib = Gib(double(model.device_memory_bytes().value_or(0)) / ranks);
  out.used_gib = Gib(MaxUsedBytes());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<evo2::Model>> MakeGroup(const evo2::ModelConfig& config, int tp,
                                                       int cp) {
  ASSIGN_OR_RETURN(auto layout, evo2::parallel::MakeGroupLayout(config, tp, cp, 0, 64));
  int gpus = 0;
  cudaGetDeviceCount(&gpus);
  const char* env = std::getenv("EVO2_CUDA_GROUP");
  ASSIGN_OR_RETURN(auto placement,
                   evo2::cuda::PlaceGroup(
                       layout, gpus, env ? std::optional<std::string_view>(env) : std::nullopt));
  std::printf("group %s: %s\n", layout.ToString().c_str(), placement.ToString().c_str());
  const bool one_gpu = placement.one_gpu;
  auto weights = [&](evo2::cuda::TensorParallelShard shard) {
    return evo2::cuda::DeviceWeights::Random(config, evo2::DType::kBFloat16, 1234, shard);
  };
  auto groups = [one_gpu, tp, cp](std::span<const int> devices)
      -> absl::StatusOr<std::unique_ptr<evo2::cuda::DeviceGroup>> {
    const std::vector<int> d(devices.begin(), devices.end());
    ASSIGN_OR_RETURN(evo2::cuda::DeviceGroup g,
                     one_gpu ? evo2::cuda::MakeInProcessDeviceGroup(d, tp, cp)
                             : evo2::cuda::MakeNcclDeviceGroup(d, tp, cp));
    return std::make_unique<evo2::cuda::DeviceGroup>(std::move(g));
  };
  ASSIGN_OR_RETURN(auto model, CudaEngineGroupModel::Create(config, layout, std::move(placement),
                                                            weights, std::move(groups)));
  return std::unique_ptr<evo2::Model>(std::move(model));
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "7b", tokens_arg = "8192", markdown;
  int tp = 1, cp = 2, runs = 5, warmup = 2;
  bool baseline = false, plan_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc)
      model_name = argv[++i];
    else if (a == "--tokens" && i + 1 < argc)
      tokens_arg = argv[++i];
    else if (a == "--tp" && i + 1 < argc)
      tp = std::atoi(argv[++i]);
    else if (a == "--cp" && i + 1 < argc)
      cp = std::atoi(argv[++i]);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && i + 1 < argc)
      warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--baseline")
      baseline = true;
    else if (a == "--plan-only")
      plan_only = true;
    else if (a == "--markdown" && i + 1 < argc)
      markdown = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--model 1b|7b|40b] [--tokens 8192,131072] [--tp N] [--cp N] "
                   "[--runs N] [--warmup N] [--baseline] [--markdown FILE] [--plan-only]\n",
                   argv[0]);
      return 2;
    }
  }
  auto config = evo2::ModelConfigPreset(Preset(model_name));
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  std::vector<int64_t> lengths;
  const std::vector<std::string> parts = absl::StrSplit(tokens_arg, ',');
  for (const std::string& t : parts) lengths.push_back(std::atoll(t.c_str()));
  for (int64_t S : lengths) PrintPlan(*config, S, tp, cp);
  if (plan_only) return 0;
  cudaDeviceProp prop{};
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0 ||
      cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  std::printf("devices: %d x %s, %.1f GiB\n", gpus, prop.name, Gib(double(prop.totalGlobalMem)));
  std::vector<Result> results;
  auto run_all = [&](evo2::Model& m, const std::string& what, int ranks) {
    for (int64_t S : lengths) {
      Result r;
      r.what = what;
      r.tokens = S;
      if (auto s = Time(m, S, runs, warmup, ranks, r); !s.ok()) r.error = s.ToString();
      std::printf("%s %lld tokens: %s\n", what.c_str(), static_cast<long long>(S),
                  r.error.empty()
                      ? absl::StrCat(r.tokens_per_s, " tokens/s, median ", r.median_s, " s, ",
                                     r.per_rank_gib, " GiB per rank, ", r.used_gib, " GiB used")
                            .c_str()
                      : r.error.c_str());
      results.push_back(r);
    }
  };
  if (baseline) {
    auto w = evo2::cuda::DeviceWeights::Random(*config, evo2::DType::kBFloat16, 1234);
    auto m = w.ok() ? evo2::cuda::CudaModel::Create(*config, std::move(*w))
                    : absl::StatusOr<std::unique_ptr<evo2::cuda::CudaModel>>(w.status());
    if (!m.ok()) {
      std::fprintf(stderr, "baseline: %s\n", m.status().ToString().c_str());
      return 1;
    }
    run_all(**m, model_name + " one GPU", 1);
  }
  {
    auto m = MakeGroup(*config, tp, cp);
    if (!m.ok()) {
      std::fprintf(stderr, "group: %s\n", m.status().ToString().c_str());
      return 1;
    }
    run_all(**m, absl::StrCat(model_name, " TP=", tp, " CP=", cp), tp * cp);
  }
  if (!markdown.empty()) {
    FILE* f = std::fopen(markdown.c_str(), "a");
    if (f == nullptr) return 1;
    std::fprintf(f, "| run | tokens | tokens/s | median s | GiB per rank | GiB used (max GPU) |\n");
    std::fprintf(f, "| --- | --- | --- | --- | --- | --- |\n");
    for (const Result& r : results)
      std::fprintf(f, "| %s | %lld | %.0f | %.3f | %.1f | %.1f |%s\n", r.what.c_str(),
                   static_cast<long long>(r.tokens), r.tokens_per_s, r.median_s, r.per_rank_gib,
                   r.used_gib, r.error.empty() ? "" : (" " + r.error).c_str());
    std::fclose(f);
  }
  for (const Result& r : results)
    if (!r.error.empty()) return 1;
  return 0;
}
