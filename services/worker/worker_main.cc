// evo2-worker: serves one model's queue with one engine group (docs/service.md). Every flag can
// also come from the environment variable named in its help.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "checkpoint_digest.h"
#include "evo2/model.h"
#include "evo2/variant_scoring.h"
#include "hashing.h"
#include "log_line.h"
#include "metrics.h"
#include "record_capacity_measure.h"
#include "record_scorer.h"
#include "reference_registry.h"
#include "self_test.h"
#include "worker.h"
#include "worker_metrics.h"

#if defined(EVO2_WITH_CUDA) && __has_include("evo2/cuda_backend.h")
#include "evo2/cuda_backend.h"
#define EVO2_REGISTER_CUDA 1
#endif

#ifndef EVO2_ENGINE_VERSION
#define EVO2_ENGINE_VERSION "unknown"
#endif

using evo2::svc::LogLine;

namespace {

std::atomic<int> g_stop_signals{0};
void OnStopSignal(int) { g_stop_signals.fetch_add(1); }

void Die(const std::string& what, const absl::Status& s) {
  LogLine() << "evo2-worker: " << what << ": " << s;
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // A handler, not sigwait: libraries start threads before main (OpenBLAS' pool), and any of
  // them may receive the signal.
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

#ifdef EVO2_REGISTER_CUDA
  evo2::RegisterCudaBackend();
#endif
  CLI::App app{"evo2-worker: runs queued Evo 2 jobs of one model"};
  std::string model_name, checkpoint, device = "cpu", precision, model_size;
  std::string redis_url = "redis://127.0.0.1:6379", redis_password, key_prefix = "evo2:";
  std::string worker_id, metrics_listen = "0.0.0.0:9465", checkpoint_digest, lora_path;
  int threads = 0, tp = 1, cp = 1;
  int64_t memory_budget_mib = 0;
  int64_t visibility_ms = 60000, heartbeat_ms = 0, block_ms = 1000, metrics_interval_ms = 5000;
  std::string fault_fail_records;
  int fault_fail_code = static_cast<int>(absl::StatusCode::kUnavailable);
  int64_t fault_delay_ms = 0;
  int64_t retry_base_ms = 1000, retry_max_ms = 300000, health_interval_ms = 1000;
  double retry_factor = 4, retry_jitter = 0.2;
  int health_failures = 3, health_successes = 2;
  std::string health_dir, results_dir;
  int64_t drain_timeout_ms = 0, results_inline_max_bytes = 1 << 20;
  std::vector<std::string> reference_specs;

  app.add_option("--model-name", model_name, "Queue (model name) to serve [EVO2_MODEL_NAME]")
      ->envname("EVO2_MODEL_NAME")
      ->required();
  app.add_option("--checkpoint", checkpoint,
                 "Checkpoint: .pt, directory with .pt + config.yml, or NeMo2 dir [EVO2_CHECKPOINT]")
      ->envname("EVO2_CHECKPOINT")
      ->required();
  app.add_option("--model-size", model_size, "Preset name when the checkpoint has no config");
  app.add_option("--lora-checkpoint-path", lora_path,
                 "LoRA adapter merged into the checkpoint at load; serve it under its own --model-name "
                 "[EVO2_LORA_CHECKPOINT_PATH]")
      ->envname("EVO2_LORA_CHECKPOINT_PATH");
  app.add_option("--device", device, "cpu | cuda [EVO2_DEVICE]")->envname("EVO2_DEVICE");
  app.add_option("--precision", precision, "'' = backend default")->envname("EVO2_PRECISION");
  app.add_option("--threads", threads, "CPU threads (0 = all) [EVO2_THREADS]")
      ->envname("EVO2_THREADS");
  app.add_option("--tensor-parallel-size", tp, "TP size of the engine group")
      ->envname("EVO2_TENSOR_PARALLEL_SIZE");
  app.add_option("--context-parallel-size", cp, "CP size of the engine group")
      ->envname("EVO2_CONTEXT_PARALLEL_SIZE");
  app.add_option("--redis", redis_url, "redis://[:password@]host:port[/db] [EVO2_REDIS_URL]")
      ->envname("EVO2_REDIS_URL");
  app.add_option("--redis-password", redis_password, "[EVO2_REDIS_PASSWORD]")
      ->envname("EVO2_REDIS_PASSWORD");
  app.add_option("--key-prefix", key_prefix, "[EVO2_KEY_PREFIX]")->envname("EVO2_KEY_PREFIX");
  app.add_option("--worker-id", worker_id, "Consumer name (default host-pid-random)")
      ->envname("EVO2_WORKER_ID");
  app.add_option("--metrics-listen", metrics_listen, "/metrics address, '' = off")
      ->envname("EVO2_WORKER_METRICS_LISTEN");
  app.add_option("--visibility-timeout-ms", visibility_ms,
                 "Idle time after which another worker reclaims a job [EVO2_VISIBILITY_TIMEOUT_MS]")
      ->envname("EVO2_VISIBILITY_TIMEOUT_MS");
  app.add_option("--heartbeat-ms", heartbeat_ms, "Lease renewal period (default timeout/4)");
  app.add_option("--block-ms", block_ms, "XREADGROUP BLOCK time");
  app.add_option("--metrics-interval-ms", metrics_interval_ms, "Queue-depth sampling period");
  app.add_option("--memory-budget-mib", memory_budget_mib,
                 "Working memory a forward may use, for the longest record advertised to the "
                 "API (0 = what is free after load) [EVO2_MEMORY_BUDGET_MIB]")
      ->envname("EVO2_MEMORY_BUDGET_MIB")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  app.add_option("--checkpoint-digest", checkpoint_digest,
                 "Provenance digest (default: sha256 of a checkpoint file)");
  app.add_option("--retry-base-ms", retry_base_ms,
                 "Wait before the 2nd attempt of a retryable failure [EVO2_RETRY_BASE_MS]")
      ->envname("EVO2_RETRY_BASE_MS");
  app.add_option("--retry-factor", retry_factor, "Backoff growth per failed attempt")
      ->envname("EVO2_RETRY_FACTOR");
  app.add_option("--retry-max-ms", retry_max_ms, "Longest wait between attempts")
      ->envname("EVO2_RETRY_MAX_MS");
  app.add_option("--retry-jitter", retry_jitter, "Random spread of each wait (0.2 = ±20 %)")
      ->envname("EVO2_RETRY_JITTER");
  app.add_option(
         "--health-interval-ms", health_interval_ms,
         "Redis PING period (and timeout) behind evo2_worker_ready [EVO2_HEALTH_INTERVAL_MS]")
      ->envname("EVO2_HEALTH_INTERVAL_MS");
  app.add_option("--health-failures", health_failures,
                 "Failed PINGs in a row before evo2_worker_ready drops to 0");
  app.add_option("--health-successes", health_successes,
                 "Good PINGs in a row before evo2_worker_ready is 1 again");
  app.add_option("--health-dir", health_dir,
                 "Write probe files here: 'alive' (touched every loop turn and record, once the "
                 "model is loaded and self-tested) and 'ready' (while evo2_worker_ready is 1) "
                 "[EVO2_WORKER_HEALTH_DIR]")
      ->envname("EVO2_WORKER_HEALTH_DIR");
  app.add_option("--drain-timeout-ms", drain_timeout_ms,
                 "After SIGTERM, finish the record in progress for at most this long, then abort "
                 "it and release the job as a second signal does (0 = wait for the record) "
                 "[EVO2_WORKER_DRAIN_TIMEOUT_MS]")
      ->envname("EVO2_WORKER_DRAIN_TIMEOUT_MS");
  app.add_option("--results-dir", results_dir,
                 "Results store shared with evo2-api: results larger than "
                 "--results-inline-max-bytes are written here instead of Redis [EVO2_RESULTS_DIR]")
      ->envname("EVO2_RESULTS_DIR");
  app.add_option("--results-inline-max-bytes", results_inline_max_bytes,
                 "Largest serialized record result kept in Redis when a results store is set "
                 "[EVO2_RESULTS_INLINE_MAX_BYTES]")
      ->envname("EVO2_RESULTS_INLINE_MAX_BYTES");
  app.add_option("--reference", reference_specs,
                 "NAME=PATH: a reference genome (FASTA, plain or bgzipped, faidx-indexed; a "
                 "missing .fai/.gzi is built beside it) that variant-scoring jobs may name; "
                 "repeatable [EVO2_REFERENCES, comma-separated]")
      ->envname("EVO2_REFERENCES")
      ->delimiter(',');
  app.add_option("--fault-fail-records", fault_fail_records,
                 "TESTING ONLY: records whose name matches this regex fail");
  app.add_option("--fault-fail-code", fault_fail_code,
                 "TESTING ONLY: status code of those failures (14 UNAVAILABLE: retried; "
                 "3 INVALID_ARGUMENT: permanent)");
  app.add_option("--fault-record-delay-ms", fault_delay_ms,
                 "TESTING ONLY: wait this long before scoring each record (logging "
                 "\"record #I started\" as the wait begins)");
  CLI11_PARSE(app, argc, argv);

  if (worker_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    worker_id = absl::StrCat(host, "-", getpid(), "-", evo2::svc::RandomHex(3));
  }
  auto redis = evo2::svc::ParseRedisUrl(redis_url);
  if (!redis.ok()) Die("--redis", redis.status());
  if (!redis_password.empty()) redis->password = redis_password;

  evo2::LoadOptions lo;
  lo.checkpoint = checkpoint;
  if (!model_size.empty()) lo.model_size = model_size;
  if (!lora_path.empty()) lo.lora_adapter = lora_path;
  auto parsed_device = evo2::ParseDevice(device);
  if (!parsed_device.ok()) Die("--device", parsed_device.status());
  auto parsed_precision = evo2::ParsePrecision(precision);
  if (!parsed_precision.ok()) Die("--precision", parsed_precision.status());
  lo.device = *parsed_device;
  lo.precision = *parsed_precision;
  lo.threads = threads;
  lo.tensor_parallel_size = tp;
  lo.context_parallel_size = cp;
  LogLine() << "evo2-worker " << worker_id << ": loading " << checkpoint << " on " << device;
  auto model = evo2::LoadModel(lo);
  if (!model.ok()) Die("loading the model", model.status());

  auto metrics = evo2::svc::MetricsEndpoint::Start(metrics_listen);
  if (!metrics.ok()) Die("metrics", metrics.status());
  evo2::svc::WorkerMetrics wm((*metrics)->registry(), model_name);

  evo2::svc::WorkerOptions wo;
  wo.worker_id = worker_id;
  wo.model = model_name;
  wo.redis = *redis;
  wo.keys = evo2::svc::JobKeys(key_prefix);
  wo.visibility_timeout = absl::Milliseconds(visibility_ms);
  wo.heartbeat_interval =
      absl::Milliseconds(heartbeat_ms > 0 ? heartbeat_ms : std::max<int64_t>(visibility_ms / 4, 50));
  wo.block = absl::Milliseconds(block_ms);
  wo.metrics_interval = absl::Milliseconds(metrics_interval_ms);
  wo.retry_backoff.base = absl::Milliseconds(retry_base_ms);
  wo.retry_backoff.factor = retry_factor;
  wo.retry_backoff.max = absl::Milliseconds(retry_max_ms);
  wo.retry_backoff.jitter = retry_jitter;
  wo.health_interval = absl::Milliseconds(health_interval_ms);
  wo.health_failures = health_failures;
  wo.health_successes = health_successes;
  wo.fault_fail_records_regex = fault_fail_records;
  wo.fault_fail_code = static_cast<absl::StatusCode>(fault_fail_code);
  wo.fault_record_delay = absl::Milliseconds(fault_delay_ms);
  // A base with an adapter is its own model: both digests identify it.
  std::string checkpoint_id = checkpoint_digest.empty() ? evo2::svc::CheckpointDigest(checkpoint) : checkpoint_digest;
  if (!lora_path.empty()) absl::StrAppend(&checkpoint_id, "+lora:", evo2::svc::CheckpointDigest(lora_path));
  wo.provenance = {
      {"prov_checkpoint", checkpoint_id},
      {"prov_precision", (*model)->backend_name()},
      {"prov_engine", EVO2_ENGINE_VERSION},
      {"prov_layout", absl::StrCat("tp", tp, "xcp", cp)}};

  // References are checked (and indexed) now, not at the first job that names them.
  for (const std::string& spec : reference_specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      Die("--reference", absl::InvalidArgumentError(absl::StrCat("'", spec, "' is not NAME=PATH")));
    }
    const std::string name = spec.substr(0, eq);
    const std::filesystem::path path = spec.substr(eq + 1);
    if (auto st = evo2::svc::CheckReferenceName(name); !st.ok()) Die("--reference", st);
    if (wo.references.count(name) > 0) {
      Die("--reference",
          absl::InvalidArgumentError(absl::StrCat("reference '", name, "' is given twice")));
    }
    if (auto st = evo2::CheckVariantReference(path); !st.ok()) {
      Die(absl::StrCat("--reference ", name), st);
    }
    wo.references[name] = path;
    LogLine() << "evo2-worker " << worker_id << ": reference '" << name << "' = " << path.string();
  }
  wo.vcf_model_name = evo2::VariantModelName(**model, checkpoint);
  wo.vcf_precision_name = evo2::VariantPrecisionName(**model);

  evo2::svc::RecordScorer scorer(**model);
  if (auto st = evo2::svc::RunSelfTest(scorer); !st.ok()) Die("self-test", st);
  LogLine() << "evo2-worker " << worker_id << ": model loaded, self-test passed";
  // After load and self-test, so the free memory is what jobs will have (docs/service.md "Limits").
  auto capacity = evo2::svc::MeasureRecordCapacity(**model, worker_id, memory_budget_mib << 20);
  if (capacity.ok()) {
    LogLine() << "evo2-worker " << worker_id << ": longest record " << capacity->log_probs_tokens
              << " tokens (log-probs), " << capacity->logits_tokens << " tokens (logits) in "
              << (memory_budget_mib > 0
                      ? absl::StrCat(memory_budget_mib, " MiB (--memory-budget-mib)")
                      : std::string("the memory free after load"));
    wm.max_record_tokens.Add({{"model", model_name}, {"output", "log_probs"}})
        .Set(static_cast<double>(capacity->log_probs_tokens));
    wm.max_record_tokens.Add({{"model", model_name}, {"output", "logits"}})
        .Set(static_cast<double>(capacity->logits_tokens));
    wo.record_capacity = *capacity;
  } else if (capacity.status().code() == absl::StatusCode::kUnimplemented ||
             capacity.status().code() == absl::StatusCode::kUnavailable) {
    LogLine() << "evo2-worker " << worker_id
              << ": advertises no record limit: " << capacity.status();
  } else {
    Die("--memory-budget-mib", capacity.status());
  }
  wo.health_dir = health_dir;
  wo.results_dir = results_dir;
  wo.results_inline_max_bytes = results_inline_max_bytes;
  evo2::svc::Worker worker(wo, scorer, wm);
  std::thread signals([&] {
    auto drain_deadline = std::chrono::steady_clock::time_point::max();
    for (int seen = 0; seen < 2;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const bool timed_out = seen == 1 && std::chrono::steady_clock::now() >= drain_deadline;
      if (g_stop_signals.load() <= seen && !timed_out) continue;
      LogLine() << "evo2-worker " << worker_id
                << (seen == 0   ? ": signal, draining (finish the record, release the job)"
                    : timed_out ? ": drain timeout, aborting the record and releasing the job"
                                : ": signal, aborting the record and releasing the job");
      worker.RequestStop();
      if (seen == 0 && drain_timeout_ms > 0) {
        drain_deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_timeout_ms);
      }
      ++seen;
    }
  });
  signals.detach();
  absl::Status s = worker.Run();
  if (!s.ok()) Die("worker", s);
  return 0;
}
