// CPU fp32 backend throughput (a program, not a test; results go to bench/RESULTS.md).
//
//   evo2_bench_cpu golden [--case-dir DIR] [--record len08192] [--hcl modal|fft] [--runs 5]
//       forward of one golden record (default: case c, 8192 tokens): median tokens/s over the
//       timed runs after one warm-up, the per-stage time split, and the accuracy against the
//       golden log-probs / last-64 logits (max abs error).
//   evo2_bench_cpu random [--preset evo2_1b_base] [--tokens 2048] [--runs 3]
//       the same for a published shape with random weights (no checkpoint needed).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cpu/cpu_model.h"
#include "cpu/cpu_weights.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/npy.h"
#include "random_weights.h"

namespace {

using evo2::cpu::CpuModel;

struct Timing {
  double median_s = 0;
  std::vector<double> runs_s;
  double cpu_s_per_run = 0;  // process CPU time (all threads) per timed run
};

// Process CPU seconds (user + system, all threads): on a shared machine wall time depends on
// the other load, CPU time much less so.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

Timing TimeForward(CpuModel& model, const std::vector<int32_t>& tokens, int runs) {
  evo2::ForwardOptions opts;          // log-probs only, like `predict`
  (void)model.Forward(tokens, opts);  // warm-up: page in weights, grow buffers, plan FFTs
  Timing t;
  const double cpu0 = ProcessCpuSeconds();
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto res = model.Forward(tokens, opts);
    t.runs_s.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!res.ok()) {
      std::fprintf(stderr, "forward failed: %s\n", std::string(res.status().message()).c_str());
      std::exit(1);
    }
  }
  t.cpu_s_per_run = (ProcessCpuSeconds() - cpu0) / runs;
  auto sorted = t.runs_s;
  std::sort(sorted.begin(), sorted.end());
  t.median_s = sorted[sorted.size() / 2];
  return t;
}

std::string LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  char buf[64] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  std::string s(buf, n);
  return s.substr(0, s.find(' '));
}

void PrintTiming(const char* what, size_t tokens, const Timing& t) {
  std::printf("%s: %zu tokens, median %.3f s = %.0f tokens/s (runs:", what, tokens, t.median_s,
              double(tokens) / t.median_s);
  for (double s : t.runs_s) std::printf(" %.3f", s);
  std::printf("); process CPU time %.3f s per forward; load average at start %s\n", t.cpu_s_per_run,
              LoadAverage().c_str());
}

void PrintStages(const std::map<std::string, double>& before,
                 const std::map<std::string, double>& after, int runs) {
  double total = 0;
  for (const auto& [k, v] : after) total += v - (before.count(k) ? before.at(k) : 0.0);
  std::printf("stage split (mean per forward):\n");
  for (const auto& [k, v] : after) {
    const double d = v - (before.count(k) ? before.at(k) : 0.0);
    std::printf("  %-22s %8.3f s  %5.1f%%\n", k.c_str(), d / runs, 100.0 * d / total);
  }
}

double MaxAbs(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    m = std::max(m, std::abs(double(a[i]) - b[i]));
  }
  return m;
}

std::vector<float> Floats(const std::filesystem::path& p) {
  auto t = evo2::ReadNpy(p);
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
    std::exit(1);
  }
  return *t->ToFloat32();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU fp32 backend benchmark"};
  app.require_subcommand(1);
  int runs = 5, threads = 0;
  std::string hcl = "modal";
  app.add_option("--runs", runs, "timed runs after one warm-up")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads (0 = all cores)");
  app.add_option("--hcl", hcl, "long filter: modal (recurrence) or fft")
      ->check(CLI::IsMember({"modal", "fft"}));
  auto* golden = app.add_subcommand("golden", "a golden record (default case c, 8192 tokens)");
  std::string case_dir = EVO2_BENCH_DEFAULT_CASE, record = "len08192";
  golden->add_option("--case-dir", case_dir);
  golden->add_option("--record", record);
  auto* random = app.add_subcommand("random", "a preset shape with random weights");
  std::string preset = "evo2_1b_base";
  int64_t num_tokens = 2048;
  random->add_option("--preset", preset);
  random->add_option("--tokens", num_tokens)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  evo2::cpu::CpuOptions cpu_opts;
  cpu_opts.threads = threads;
  cpu_opts.profile = true;
  cpu_opts.long_filter = hcl == "fft" ? evo2::cpu::LongFilterMethod::kFft
                                      : evo2::cpu::LongFilterMethod::kModalRecurrence;

  if (golden->parsed()) {
    auto ckpt = evo2::LoadCheckpoint(std::filesystem::path(case_dir) / "model.pt");
    if (!ckpt.ok() || !ckpt->config_yaml) {
      std::fprintf(stderr, "cannot load %s/model.pt with its config.yml\n", case_dir.c_str());
      return 1;
    }
    auto config = evo2::ModelConfigFromVortexYaml(*ckpt->config_yaml);
    if (!config.ok() || !evo2::ValidateTensors(*config, ckpt->tensors).ok()) {
      std::fprintf(stderr, "bad config/checkpoint in %s\n", case_dir.c_str());
      return 1;
    }
    auto weights = evo2::cpu::LoadWeights(*config, ckpt->tensors);
    if (!weights.ok()) return 1;
    CpuModel model(*config, std::move(*weights), cpu_opts);
    auto tok = evo2::ReadNpy(std::filesystem::path(case_dir) / (record + ".tokens.npy"));
    if (!tok.ok()) return 1;
    auto ids64 = *tok->ToInt64();
    std::vector<int32_t> tokens(ids64.begin(), ids64.end());
    const auto before = model.stage_seconds();
    // The warm-up inside TimeForward is also profiled; snapshot after it instead.
    Timing t = TimeForward(model, tokens, runs);
    (void)before;
    PrintTiming((case_dir + " " + record + " hcl=" + hcl).c_str(), tokens.size(), t);
    // Accuracy (one more run with logits).
    evo2::ForwardOptions opts;
    opts.logits = true;
    const auto stages_before_acc = model.stage_seconds();
    auto r = model.Forward(tokens, opts);
    PrintStages({}, stages_before_acc, runs + 1);
    const auto dir = std::filesystem::path(case_dir);
    std::printf("max |Δ log-prob| vs golden: %.3g\n",
                MaxAbs(r->log_probs, Floats(dir / (record + ".logprobs.npy"))));
    if (tokens.size() > 2048) {
      std::vector<float> last(r->logits.end() - 64 * 512, r->logits.end());
      std::printf("max |Δ logits| (last 64 rows) vs golden: %.3g\n",
                  MaxAbs(last, Floats(dir / (record + ".logits_last64.npy"))));
    } else {
      std::printf("max |Δ logits| vs golden: %.3g\n",
                  MaxAbs(r->logits, Floats(dir / (record + ".logits.npy"))));
    }
    return 0;
  }

  auto config = evo2::ModelConfigPreset(preset);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  std::printf("generating random weights for %s ...\n", preset.c_str());
  std::fflush(stdout);
  CpuModel model(*config, evo2::bench::RandomWeights(*config, 1234), cpu_opts);
  std::vector<int32_t> tokens(static_cast<size_t>(num_tokens));
  const char acgt[] = {'A', 'C', 'G', 'T'};
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = acgt[(i * 7 + i / 3) % 4];
  Timing t = TimeForward(model, tokens, runs);
  PrintTiming((preset + " random weights hcl=" + hcl).c_str(), tokens.size(), t);
  PrintStages({}, model.stage_seconds(), runs + 1);
  return 0;
}
