// Forward-pass benchmark of the cuda backend on one GPU (bench/RESULTS.md): random weights with
// the real evo2_1b_base / evo2_7b shapes, random A/C/G/T tokens, log-probs only (as scoring
// does). Per row: warm-up runs, then timed runs with CUDA events around each forward; the median
// is reported as tokens/s, with the device memory the engine holds (weights + workspace) and the
// device's used memory from cudaMemGetInfo. A profile run attributes the time to stages and
// compares each stage with the card's ceilings (copy 4.3 TB/s, bf16 GEMM 790 TFLOP/s).
//
//   evo2_cuda_bench [--rows 1b:1x8192,1b:8x8192,7b:1x8192,7b+full-fp8:1x8192,...] [--profile]
//                   [--markdown FILE] [--cancel]
// A model name with +fp8 / +full-fp8 runs the same shape with FP8 linears (docs/spec/fp8.md).
//
// --cancel adds, per row, the cost of giving the forward a cancellation flag (median with an
// unset flag, which keeps the host at most two blocks ahead) and the cancel latency: the flag is
// set a quarter into a forward, and the time until Run returns and until the device is idle is
// reported.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_weights.h"
#include "cuda/stage_timer.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"

namespace {

using evo2::cuda::CudaModel;

struct Row {
  std::string model;  // "1b" | "7b"
  int64_t batch, seq;
};

struct Result {
  Row row;
  double median_s = 0, tokens_per_s = 0;
  double engine_gib = 0, device_used_gib = 0;
  int runs = 0;
  std::string error;
  std::map<std::string, double> stages_ms;
};

double Gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

std::string Preset(const std::string& m) { return m == "1b" ? "evo2_1b_base" : "evo2_7b"; }

// Bytes and FLOPs a stage must move/do for one forward (the floor), for the ceiling comparison.
struct Work {
  double bytes = 0, flops = 0;
};
std::map<std::string, Work> StageWork(const evo2::ModelConfig& c, int64_t B, int64_t S) {
  const double R = double(B) * S, H = c.hidden_size, I = c.inner_mlp_size, e = 2;
  std::map<std::string, Work> w;
  int n_hyena = 0, n_attn = 0, n_hcs = 0, n_hcm = 0, n_hcl = 0;
  for (auto k : c.block_kinds) {
    n_attn += k == evo2::BlockKind::kAttn;
    n_hyena += k != evo2::BlockKind::kAttn;
    n_hcs += k == evo2::BlockKind::kHcs;
    n_hcm += k == evo2::BlockKind::kHcm;
    n_hcl += k == evo2::BlockKind::kHcl;
  }
  const int N = c.num_layers;
  w["gemm_hyena_in"].flops = n_hyena * 2 * R * H * 3 * H;
  w["gemm_wqkv"].flops = n_attn * 2 * R * H * 3 * H;
  w["gemm_out"].flops = N * 2 * R * H * H;
  w["gemm_mlp_l12"].flops = N * 2 * R * H * 2 * I;
  w["gemm_mlp_l3"].flops = N * 2 * R * I * H;
  w["attention"].flops = n_attn * 2.0 * B * double(S) * S * H;  // causal: half of 4·S²·H
  w["hyena_featurizer"].bytes = n_hyena * R * (3 * H + 2 * H) * e;
  w["hyena_fir_hcs"].bytes = n_hcs * R * 3 * H * e;
  w["hyena_fir_hcm"].bytes = n_hcm * R * 3 * H * e;
  w["hyena_long_hcl"].bytes = n_hcl * R * 3 * H * e;  // one pass: a, q in, o out (floor)
  w["rotary"].bytes = n_attn * R * 6 * H * e;
  w["rms_norm"].bytes = (2 * N + 1) * R * H * (4 + e);  // fp32 stream in, act out
  w["mlp_gate"].bytes = N * R * 3 * I * e;
  w["head_logsoftmax"].flops = 2 * R * H * c.vocab_size;
  return w;
}

absl::Status Measure(CudaModel& model, const Row& row, int warmup, int runs, bool profile,
                     Result& out) {
  const int64_t R = row.batch * row.seq;
  const auto reserve_start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(model.Reserve(row.batch, row.seq));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(model.stream()));
  // Workspace allocation + GEMM tuning for this row count (once per row bucket per process).
  std::printf("%s %lldx%lld: reserve + GEMM tuning %.3f s\n", row.model.c_str(),
              static_cast<long long>(row.batch), static_cast<long long>(row.seq),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - reserve_start).count());
  // Random A/C/G/T tokens; targets = next token within each sequence, -1 at its end.
  std::vector<int32_t> tokens(R), targets(R);
  std::mt19937 rng(7);
  const int32_t acgt[4] = {65, 67, 71, 84};
  for (auto& t : tokens) t = acgt[rng() % 4];
  for (int64_t i = 0; i < R; ++i)
    targets[i] = (i % row.seq == row.seq - 1) ? -1 : tokens[i + 1];
  auto& ws = model.workspace();
  CUDA_RETURN_IF_ERROR(cudaMemcpy(ws.tokens.get(), tokens.data(), R * 4, cudaMemcpyHostToDevice));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(ws.targets.get(), targets.data(), R * 4, cudaMemcpyHostToDevice));
  evo2::cuda::RunRequest req;
  req.batch = row.batch;
  req.seq = row.seq;
  req.tokens_on_device = true;
  for (int i = 0; i < warmup; ++i)
    RETURN_IF_ERROR(model.Run(req));
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
  // Sanity: the log-probs must be finite (NaN never passes, also in a benchmark).
  std::vector<float> lp(R);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(lp.data(), ws.log_probs.get(), R * 4, cudaMemcpyDeviceToHost));
  for (float v : lp)
    if (!std::isfinite(v)) return absl::InternalError("non-finite log-prob in benchmark output");
  std::sort(times.begin(), times.end());
  out.runs = runs;
  out.median_s = times[times.size() / 2];
  out.tokens_per_s = R / out.median_s;
  out.engine_gib = Gib(double(model.device_bytes()));
  size_t free_b = 0, total_b = 0;
  CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_b, &total_b));
  out.device_used_gib = Gib(double(total_b - free_b));
  if (profile) {
    evo2::cuda::StageTimer timer;
    req.timer = &timer;
    RETURN_IF_ERROR(model.Run(req));
    ASSIGN_OR_RETURN(auto totals, timer.TotalsMs());
    out.stages_ms = totals;
  }
  return absl::OkStatus();
}

// Cancellation on this row: forward time with an unset flag (the throttled launch order), then
// a flag set at 25 % of a forward: milliseconds until Run returns and until the stream is idle.
absl::Status MeasureCancel(CudaModel& model, const Row& row, double forward_s) {
  using Clock = std::chrono::steady_clock;
  evo2::cuda::RunRequest req;
  req.batch = row.batch;
  req.seq = row.seq;
  req.tokens_on_device = true;  // tokens and targets left in the workspace by Measure
  std::atomic<bool> flag{false};
  req.cancelled = &flag;
  const int runs = row.batch * row.seq >= 131072 ? 3 : 5;
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(model.stream()));
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(model.Run(req));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(model.stream()));
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double with_flag_s = times[times.size() / 2];
  Clock::time_point set_at;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(with_flag_s / 4));
    set_at = Clock::now();
    flag = true;
  });
  const absl::Status cancelled = model.Run(req);
  const auto returned_at = Clock::now();
  setter.join();
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(model.stream()));
  const auto idle_at = Clock::now();
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("%s %lldx%lld cancel: forward %.2f ms without a flag, %.2f ms with an unset flag "
              "(%+.1f %%); set at 25 %%: Run returned after %.2f ms, device idle after %.2f ms "
              "(%s)\n",
              row.model.c_str(), static_cast<long long>(row.batch),
              static_cast<long long>(row.seq), forward_s * 1e3, with_flag_s * 1e3,
              100 * (with_flag_s / forward_s - 1), ms(returned_at - set_at),
              ms(idle_at - set_at), cancelled.ToString().c_str());
  if (cancelled.code() != absl::StatusCode::kCancelled) {
    return absl::InternalError("the forward finished although its flag was set");
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string rows_arg = "1b:1x8192,1b:8x8192,7b:1x8192,7b:1x32768,7b:1x131072";
  bool profile = false;
  bool cancel = false;
  std::string markdown;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) rows_arg = argv[++i];
    else if (a == "--profile") profile = true;
    else if (a == "--cancel") cancel = true;
    else if (a == "--markdown" && i + 1 < argc) markdown = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--rows 1b:1x8192,...] [--profile] [--markdown FILE] [--cancel]\n",
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
  std::printf("device: %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount,
              Gib(double(prop.totalGlobalMem)));
  std::vector<Result> results;
  std::unique_ptr<CudaModel> model;
  std::string loaded;
  evo2::ModelConfig config;
  for (const Row& row : rows) {
    Result res;
    res.row = row;
    if (loaded != row.model) {
      model.reset();
      // "7b+fp8" / "7b+full-fp8": the same shape with FP8 linears (docs/spec/fp8.md).
      const std::string base = row.model.substr(0, row.model.find('+'));
      const std::string suffix = row.model.size() > base.size() ? row.model.substr(base.size() + 1) : "";
      evo2::Fp8Mode fp8 = evo2::Fp8Mode::kOff;
      if (suffix == "fp8") fp8 = evo2::Fp8Mode::kHyenaProjections;
      else if (suffix == "full-fp8") fp8 = evo2::Fp8Mode::kAllLinears;
      else if (!suffix.empty()) {
        std::fprintf(stderr, "bad model '%s' (suffix +fp8 or +full-fp8)\n", row.model.c_str());
        return 1;
      }
      auto cfg = evo2::ModelConfigPreset(Preset(base));
      if (!cfg.ok()) {
        std::fprintf(stderr, "%s\n", cfg.status().ToString().c_str());
        return 1;
      }
      config = *cfg;
      auto w = evo2::cuda::DeviceWeights::Random(config, evo2::DType::kBFloat16, 1234);
      if (!w.ok()) {
        std::fprintf(stderr, "weights: %s\n", w.status().ToString().c_str());
        return 1;
      }
      if (fp8 != evo2::Fp8Mode::kOff) {
        if (auto f = w->AddFp8Copies(config, fp8, {}, nullptr); !f.ok()) {
          std::fprintf(stderr, "fp8 weights: %s\n", f.ToString().c_str());
          return 1;
        }
      }
      auto m = CudaModel::Create(config, std::move(*w));
      if (!m.ok()) {
        std::fprintf(stderr, "model: %s\n", m.status().ToString().c_str());
        return 1;
      }
      model = std::move(*m);
      loaded = row.model;
      std::printf("%s (%s): N=%d H=%d I=%d, weights %.2f GiB, attention: %s\n",
                  row.model.c_str(), Preset(base).c_str(), config.num_layers,
                  config.hidden_size, config.inner_mlp_size, Gib(double(model->weights().bytes)),
                  model->attention_note().c_str());
    }
    const int64_t R = row.batch * row.seq;
    const int warmup = R >= (1 << 20) ? 0 : (R >= 131072 ? 1 : 2);
    const int runs = R >= (1 << 20) ? 1 : (R >= 131072 ? 3 : (R >= 32768 ? 5 : 7));
    if (auto s = Measure(*model, row, warmup, runs, profile, res); !s.ok()) res.error = s.ToString();
    if (cancel && res.error.empty()) {
      if (auto s = MeasureCancel(*model, row, res.median_s); !s.ok()) res.error = s.ToString();
    }
    std::printf("%s %lldx%lld: %s%.4f s median of %d, %.0f tokens/s, engine %.2f GiB, device used %.2f GiB\n",
                row.model.c_str(), static_cast<long long>(row.batch),
                static_cast<long long>(row.seq), res.error.empty() ? "" : ("ERROR " + res.error + " ").c_str(),
                res.median_s, res.runs, res.tokens_per_s, res.engine_gib, res.device_used_gib);
    if (!res.stages_ms.empty()) {
      const auto work = StageWork(config, row.batch, row.seq);
      double total = 0;
      for (const auto& [k, ms] : res.stages_ms) total += ms;
      for (const auto& [k, ms] : res.stages_ms) {
        if (k == "start") continue;
        auto it = work.find(k);
        std::string rate;
        if (it != work.end() && it->second.flops > 0)
          rate = absl::StrCat(static_cast<int>(it->second.flops / (ms * 1e-3) / 1e12), " TFLOP/s (",
                              static_cast<int>(100 * it->second.flops / (ms * 1e-3) / 790e12), "% of 790)");
        else if (it != work.end() && it->second.bytes > 0)
          rate = absl::StrCat(static_cast<int>(it->second.bytes / (ms * 1e-3) / 1e9), " GB/s (",
                              static_cast<int>(100 * it->second.bytes / (ms * 1e-3) / 4.3e12), "% of 4.3 TB/s, floor bytes)");
        std::printf("    %-18s %9.2f ms %5.1f%%  %s\n", k.c_str(), ms, 100 * ms / total, rate.c_str());
      }
    }
    std::fflush(stdout);
    results.push_back(res);
  }
  std::printf("\n| model | batch × length | median s | tokens/s | engine GiB | device used GiB |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (const Result& r : results) {
    if (!r.error.empty()) {
      std::printf("| %s | %lld × %lld | error: %s | | | |\n", r.row.model.c_str(),
                  static_cast<long long>(r.row.batch), static_cast<long long>(r.row.seq), r.error.c_str());
      continue;
    }
    std::printf("| %s | %lld × %lld | %.4f | %.0f | %.2f | %.2f |\n", r.row.model.c_str(),
                static_cast<long long>(r.row.batch), static_cast<long long>(r.row.seq), r.median_s,
                r.tokens_per_s, r.engine_gib, r.device_used_gib);
  }
  return 0;
}
