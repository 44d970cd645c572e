// Cached-state decoding benchmark of the cuda backend on one GPU: random weights with real
// shapes, random A/C/G/T tokens. Models: Evo 2 `1b` / `7b` (evo2_1b_base / evo2_7b,
// cuda/cuda_decoder.h; `1b+full-fp8` / `7b+full-fp8` with every linear's FP8 copy, whose
// few-row steps stream the E4M3 weights), Llama `eden7b` / `llama8b`
// (cuda/llama/llama_cuda_decoder.h) and `hybrid8b` (hybrid_mamba_8b,
// cuda/nemotron_h/nemotron_h_cuda_decoder.h); bench_models.h has the HF families' shapes.
//   * time to first token: Prefill of one 8 192-token prompt (the parallel forward, the state
//     derivation, the last row's logits back on the host), median of 3 after a warm-up;
//   * decode rate: B prompts of 64 tokens prefilled (the 147 steps then stay in one KV
//     bucket), 3 warm-up steps (the first step of a shape runs eagerly, the second captures
//     the step graph), then 3 timed runs of 48 steps; each
//     Step call includes the token upload, the graph launch and the logits' copy back to the
//     host, so the rate is what `evo2 generate` sees minus its sampling. Aggregate tokens/s =
//     B · steps / median wall time.
// Targets (one H100/H200): 7B batch 1 ≥ 250 tokens/s, 1B batch 1 ≥ 1 000 tokens/s; the HF
// families' rows have no target (their bf16 weight-read ceilings: eden7b 14.0 GB, llama8b
// 16.1 GB, hybrid8b ~16 GB per batch-1 step).
//
//   evo2_decode_bench [--models 1b,7b,eden7b,llama8b,hybrid8b] [--batches 1,32] [--ab]
//                     [--ttft-prompt 8192] [--profile-steps N] [--trace]
// --ab adds batch-1 rows for comparison: the Evo 2 step as the persistent decode program
// (EVO2_CUDA_DECODE_PERSISTENT=1; every other row runs one launch per op), without CUDA graphs
// (EVO2_CUDA_DECODE_GRAPHS=0), without programmatic dependent launches (EVO2_CUDA_DECODE_PDL=0),
// with cuBLAS instead of the few-row GEMM kernel (EVO2_CUDA_DECODE_GEMV=0), and with the few-row
// kernel as it was before its deeper loads and gated epilogue (EVO2_CUDA_DECODE_UNROLL=4
// EVO2_CUDA_DECODE_GATE_EPILOGUE=0); an FP8 model adds its steps on the bf16 weights
// (EVO2_CUDA_DECODE_FP8=0).
// --ttft-prompt 0 skips the time to first token. --profile-steps N runs, per model, only the
// first batch's default step: warm-up, then N steps between cudaProfilerStart and
// cudaProfilerStop, for a profiler started with its capture off (ncu --profile-from-start off).
// --trace (a build configured with -DEVO2_DECODE_PROGRAM_TRACE=ON) adds the decode-program row
// where --ab does not, and prints under it where its consumers spent the timed steps, phase by
// phase (µs per CTA per step, cycles converted at the SM's nominal clock; the timing makes the
// row itself slower).
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "bench/cuda/bench_models.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_step_decoder.h"
#include "cuda/cuda_weights.h"
#include "cuda/llama/llama_cuda_model.h"
#include "cuda/llama/llama_cuda_weights.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_program.cuh"

namespace {

using evo2::Model;
using evo2::cuda::CudaModel;
using evo2::cuda::CudaStepDecoder;
using Clock = std::chrono::steady_clock;

constexpr int kThroughputPrompt = 64;
constexpr int kWarmupSteps = 3, kRuns = 3, kStepsPerRun = 48;

// A model of `name` with random bf16 weights.
absl::StatusOr<std::unique_ptr<Model>> RandomModel(const std::string& name) {
  const bool full_fp8 = name == "1b+full-fp8" || name == "7b+full-fp8";
  if (name == "1b" || name == "7b" || full_fp8) {
    ASSIGN_OR_RETURN(auto cfg,
                     evo2::ModelConfigPreset(name[0] == '1' ? "evo2_1b_base" : "evo2_7b"));
    ASSIGN_OR_RETURN(auto w, evo2::cuda::DeviceWeights::Random(cfg, evo2::DType::kBFloat16, 1234));
    if (full_fp8) RETURN_IF_ERROR(w.AddFp8Copies(cfg, evo2::Fp8Mode::kAllLinears, {}, nullptr));
    ASSIGN_OR_RETURN(auto m, CudaModel::Create(cfg, std::move(w)));
    return std::unique_ptr<Model>(std::move(m));
  }
  if (name == "eden7b" || name == "llama8b") {
    ASSIGN_OR_RETURN(auto cfg, evo2::bench::LlamaBenchShape(name));
    ASSIGN_OR_RETURN(auto w,
                     evo2::cuda::LlamaDeviceWeights::Random(cfg, evo2::DType::kBFloat16, 1234));
    ASSIGN_OR_RETURN(auto m, evo2::cuda::LlamaCudaModel::Create(cfg, std::move(w)));
    return std::unique_ptr<Model>(std::move(m));
  }
  if (name == "hybrid8b") {
    ASSIGN_OR_RETURN(auto m, evo2::bench::RandomHybridMamba8b(evo2::DType::kBFloat16));
    return std::unique_ptr<Model>(std::move(m));
  }
  return absl::InvalidArgumentError(
      "unknown model '" + name + "' (1b, 7b, 1b+full-fp8, 7b+full-fp8, eden7b, llama8b, hybrid8b)");
}

std::vector<int32_t> RandomBases(int64_t n, std::mt19937& rng) {
  static constexpr int32_t kBases[] = {'A', 'C', 'G', 'T'};
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = kBases[rng() % 4];
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Which step implementation a row measures (the decoder reads these switches when created).
struct Variant {
  bool graphs = true, skinny_gemm = true, pdl = true, v1_linears = false;
  bool bf16_copies = false;  // an FP8 model's steps on its bf16 weights
  bool program = false;  // the Evo 2 batch-1 step as the persistent decode program (opt-in)
  bool is_default() const {
    return graphs && skinny_gemm && pdl && !v1_linears && !bf16_copies && !program;
  }
  const char* name() const {
    if (program) return "graph, persistent decode program (EVO2_CUDA_DECODE_PERSISTENT=1)";
    if (bf16_copies) return "graph, bf16 weights (EVO2_CUDA_DECODE_FP8=0)";
    if (!graphs) return "eager launches";
    if (!skinny_gemm) return "graph, cuBLAS";
    if (v1_linears) return "graph, few-row kernel v1 (unroll 4, gate kernel apart)";
    return pdl ? "graph" : "graph, no PDL";
  }
};

absl::StatusOr<std::unique_ptr<evo2::Decoder>> NewDecoder(Model& model, Variant v) {
  if (!v.graphs) setenv("EVO2_CUDA_DECODE_GRAPHS", "0", 1);
  if (!v.skinny_gemm) setenv("EVO2_CUDA_DECODE_GEMV", "0", 1);
  if (!v.pdl) setenv("EVO2_CUDA_DECODE_PDL", "0", 1);
  if (v.v1_linears) {
    setenv("EVO2_CUDA_DECODE_UNROLL", "4", 1);
    setenv("EVO2_CUDA_DECODE_GATE_EPILOGUE", "0", 1);
  }
  if (v.bf16_copies) setenv("EVO2_CUDA_DECODE_FP8", "0", 1);
  if (v.program) setenv("EVO2_CUDA_DECODE_PERSISTENT", "1", 1);
  auto d = model.NewDecoder(evo2::DecoderOptions{});
  unsetenv("EVO2_CUDA_DECODE_PERSISTENT");
  unsetenv("EVO2_CUDA_DECODE_FP8");
  unsetenv("EVO2_CUDA_DECODE_UNROLL");
  unsetenv("EVO2_CUDA_DECODE_GATE_EPILOGUE");
  unsetenv("EVO2_CUDA_DECODE_GRAPHS");
  unsetenv("EVO2_CUDA_DECODE_GEMV");
  unsetenv("EVO2_CUDA_DECODE_PDL");
  return d;
}

absl::StatusOr<double> TimeToFirstToken(Model& model, int64_t prompt_len) {
  std::mt19937 rng(7);
  const std::vector<std::vector<int32_t>> prompt = {RandomBases(prompt_len, rng)};
  ASSIGN_OR_RETURN(auto d, NewDecoder(model, Variant{}));
  RETURN_IF_ERROR(d->Prefill(prompt).status());  // warm-up: workspace, attention plan
  std::vector<double> s;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(d->Prefill(prompt).status());
    s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return Median(s);
}

struct Rate {
  double tokens_per_s = 0, step_ms = 0, state_gib = 0;
  int64_t graph_steps = 0;
  std::string trace{};  // ProgramTraceLine, for a traced program row
};

// The program's phase clocks over `steps` steps (TakeDecodeProgramTrace), as one line.
absl::StatusOr<std::string> ProgramTraceLine(int steps) {
  static constexpr const char* kNames[evo2::kernels::kDecodePhaseCount] = {
      "barrier", "input", "stage wait", "dots", "last sync", "Hyena epilogue", "other epilogue"};
  ASSIGN_OR_RETURN(const auto trace, evo2::kernels::TakeDecodeProgramTrace());
  int device = 0, khz = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  const double us_per_cycle = 1e3 / khz;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "  phases, us per CTA per step at %.0f MHz (max CTA):", khz / 1e3);
  std::string line = buf;
  double total = 0;
  for (int p = 0; p < evo2::kernels::kDecodePhaseCount; ++p) {
    const double us = trace.cycles_per_cta[p] * us_per_cycle / steps;
    total += us;
    std::snprintf(buf, sizeof(buf), " %s %.1f (%.1f);", kNames[p], us,
                  trace.cycles_max_cta[p] * us_per_cycle / steps);
    line += buf;
  }
  std::snprintf(buf, sizeof(buf), " sum %.1f; CTA 0 in the kernel %.1f us per step, %.1f launches",
                total, trace.cta0_wall_ns / 1e3 / steps,
                static_cast<double>(trace.launches) / steps);
  return line + buf;
}

// profile_steps > 0: only those steps, between cudaProfilerStart and cudaProfilerStop.
// trace: a program row's phase clocks over the timed steps (ProgramTraceLine).
absl::StatusOr<Rate> DecodeRate(Model& model, int64_t batch, Variant variant, int profile_steps = 0,
                                bool trace = false) {
  trace = trace && variant.program;
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t b = 0; b < batch; ++b) prompts.push_back(RandomBases(kThroughputPrompt, rng));
  ASSIGN_OR_RETURN(auto d, NewDecoder(model, variant));
  RETURN_IF_ERROR(d->Prefill(prompts).status());
  auto step = [&]() -> absl::Status { return d->Step(RandomBases(batch, rng)).status(); };
  for (int i = 0; i < kWarmupSteps; ++i) RETURN_IF_ERROR(step());
  if (trace) RETURN_IF_ERROR(evo2::kernels::TakeDecodeProgramTrace().status());  // from zero
  if (profile_steps > 0) {
    CUDA_RETURN_IF_ERROR(cudaProfilerStart());
    const auto t0 = Clock::now();
    for (int i = 0; i < profile_steps; ++i) RETURN_IF_ERROR(step());
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    CUDA_RETURN_IF_ERROR(cudaProfilerStop());
    return Rate{.tokens_per_s = batch * profile_steps / t, .step_ms = 1e3 * t / profile_steps};
  }
  std::vector<double> s;
  for (int r = 0; r < kRuns; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kStepsPerRun; ++i) RETURN_IF_ERROR(step());
    s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double med = Median(s);
  std::string trace_line;
  if (trace) {
    ASSIGN_OR_RETURN(trace_line, ProgramTraceLine(kRuns * kStepsPerRun));
  }
  auto& cd = dynamic_cast<CudaStepDecoder&>(*d);
  if (!cd.graph_error().empty())
    std::printf("note: graph capture error: %s\n", cd.graph_error().c_str());
  return Rate{.tokens_per_s = batch * kStepsPerRun / med,
              .step_ms = 1e3 * med / kStepsPerRun,
              .state_gib = double(cd.device_bytes()) / (1 << 30),
              .graph_steps = cd.graph_steps(),
              .trace = trace_line};
}

}  // namespace

int main(int argc, char** argv) {
  std::string models_arg = "1b,7b", batches_arg = "1,32";
  bool ab = false, trace = false;
  int64_t ttft_prompt = 8192;
  int profile_steps = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--models" && i + 1 < argc)
      models_arg = argv[++i];
    else if (a == "--batches" && i + 1 < argc)
      batches_arg = argv[++i];
    else if (a == "--ttft-prompt" && i + 1 < argc)
      ttft_prompt = std::atoll(argv[++i]);
    else if (a == "--profile-steps" && i + 1 < argc)
      profile_steps = std::atoi(argv[++i]);
    else if (a == "--ab")
      ab = true;
    else if (a == "--trace")
      trace = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--models 1b,7b,eden7b,llama8b,hybrid8b] [--batches 1,32] [--ab] "
                   "[--ttft-prompt N] [--profile-steps N] [--trace]\n",
                   argv[0]);
      return 2;
    }
  }
  if (trace && !evo2::kernels::DecodeProgramTraced()) {
    std::fprintf(stderr,
                 "--trace: this build does not time the decode program (configure with "
                 "-DEVO2_DECODE_PROGRAM_TRACE=ON)\n");
    return 2;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  std::printf(
      "| model | batch | step | step ms | tokens/s (aggregate) | target | state+buffers GiB |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  int failures = 0;
  const std::vector<std::string> models = absl::StrSplit(models_arg, ',');
  for (const std::string& name : models) {
    auto m = RandomModel(name);
    if (!m.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), m.status().ToString().c_str());
      return 1;
    }
    Model& model = **m;
    const bool evo2_model = name[0] == '1' || name[0] == '7';  // 1b, 7b and their +full-fp8
    const double target = !evo2_model ? 0 : (name[0] == '7' ? 250 : 1000);
    std::vector<std::pair<int64_t, Variant>> rows;
    const std::vector<std::string> batches = absl::StrSplit(batches_arg, ',');
    for (const std::string& b : batches) rows.push_back({std::atoll(b.c_str()), Variant{}});
    if (evo2_model && (ab || trace)) rows.push_back({1, Variant{.program = true}});  // Evo 2 only
    if (ab) {
      rows.push_back({1, Variant{.graphs = false}});
      rows.push_back({1, Variant{.pdl = false}});
      rows.push_back({1, Variant{.skinny_gemm = false}});
      if (evo2_model) rows.push_back({1, Variant{.v1_linears = true}});
      if (name.find("fp8") != std::string::npos) rows.push_back({1, Variant{.bf16_copies = true}});
    }
    if (profile_steps > 0) rows.resize(1);
    for (const auto& [batch, variant] : rows) {
      auto r = DecodeRate(model, batch, variant, profile_steps, trace);
      if (!r.ok()) {
        std::printf("| %s | %lld | %s | error: %s | | | |\n", name.c_str(),
                    static_cast<long long>(batch), variant.name(), r.status().ToString().c_str());
        ++failures;
        continue;
      }
      const bool check = batch == 1 && variant.is_default() && target > 0;
      std::printf("| %s | %lld | %s (%lld replayed) | %.3f | %.0f tokens/s | %s | %.2f |\n",
                  name.c_str(), static_cast<long long>(batch), variant.name(),
                  static_cast<long long>(r->graph_steps), r->step_ms, r->tokens_per_s,
                  check ? (r->tokens_per_s >= target ? "≥ target: met" : "below target") : "",
                  r->state_gib);
      if (!r->trace.empty()) std::printf("%s\n", r->trace.c_str());
      std::fflush(stdout);
    }
    if (ttft_prompt <= 0 || profile_steps > 0) continue;
    auto ttft = TimeToFirstToken(model, ttft_prompt);
    if (!ttft.ok()) {
      std::printf("%s time to first token (%lld-token prompt): error %s\n", name.c_str(),
                  static_cast<long long>(ttft_prompt), ttft.status().ToString().c_str());
      ++failures;
    } else {
      std::printf("%s time to first token (%lld-token prompt): %.1f ms (prefill %.0f tokens/s)\n",
                  name.c_str(), static_cast<long long>(ttft_prompt), 1e3 * *ttft,
                  static_cast<double>(ttft_prompt) / *ttft);
    }
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}
