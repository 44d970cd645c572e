// The queue consumer: pulls jobs of one model from Redis, runs them record by record through
// the engine, publishes results/progress, heartbeats its lease, reclaims jobs of dead workers,
// drains on SIGTERM (docs/service.md, "Delivery semantics").
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "health_files.h"
#include "job_keys.h"
#include "job_queue.h"
#include "job_store.h"
#include "record_capacity_registry.h"
#include "record_scorer.h"
#include "redis_client.h"
#include "redis_health.h"
#include "results_store.h"
#include "retry_backoff.h"
#include "worker_metrics.h"

namespace evo2::svc {

struct WorkerOptions {
  std::string worker_id;      // consumer name; unique per process
  std::string model;          // queue to serve
  RedisOptions redis;
  JobKeys keys;
  // An entry idle (no heartbeat) longer than this is taken over by another worker.
  absl::Duration visibility_timeout = absl::Seconds(60);
  absl::Duration heartbeat_interval = absl::Seconds(10);  // < visibility_timeout / 2
  absl::Duration block = absl::Seconds(1);                 // XREADGROUP BLOCK
  absl::Duration metrics_interval = absl::Seconds(5);      // queue-depth sampling
  std::map<std::string, std::string> provenance;           // prov_* fields for the job hash
  RetryBackoff retry_backoff;  // wait before the next attempt of a retryable failure
  // evo2_worker_ready follows Redis reachability with this hysteresis (interval = PING period).
  absl::Duration health_interval = absl::Seconds(1);
  int health_failures = 3;
  int health_successes = 2;
  // Probe files (health_files.h); empty = none.
  std::string health_dir;
  // Results store (results_store.h) shared with the API; empty = every result goes to Redis.
  // A record result whose serialized size exceeds results_inline_max_bytes goes to the store.
  std::string results_dir;
  int64_t results_inline_max_bytes = 1 << 20;
  // Variant-scoring jobs (variant_job.h): references by name (registered in Redis at start)
  // and the names the annotated VCF carries.
  std::map<std::string, std::filesystem::path> references;
  std::string vcf_model_name;
  std::string vcf_precision_name;
  // The longest record this worker's engine can hold (record_capacity_measure.h), advertised
  // under the model every metrics_interval with a TTL of kCapacityTtlIntervals intervals; none
  // = advertise nothing (a backend without a memory plan).
  std::optional<RecordCapacity> record_capacity;
  // Fault injection, for tests only: records whose name matches fail with fault_fail_code
  // (UNAVAILABLE: retryable; INVALID_ARGUMENT etc.: permanent), and each record waits this long
  // before it is scored.
  std::string fault_fail_records_regex;
  absl::StatusCode fault_fail_code = absl::StatusCode::kUnavailable;
  absl::Duration fault_record_delay = absl::ZeroDuration();
};

// An advertisement outlives this many missed renewals (metrics intervals) before it expires:
// one late sample does not make the API forget a live worker.
inline constexpr int kCapacityTtlIntervals = 3;

class Worker {
 public:
  Worker(WorkerOptions options, RecordScorer& scorer, WorkerMetrics& metrics);

  // Runs until RequestStop(); returns after the current job is finished or released.
  absl::Status Run();
  // First call: drain (finish the current record, then release the job). Second call: abort the
  // current record at the engine's next cancellation check and release at once.
  void RequestStop();

 private:
  struct RunningJob;

  absl::StatusOr<std::vector<QueueEntry>> NextEntries();
  void Process(const QueueEntry& entry);
  void RunClaimed(const QueueEntry& entry, int attempt);
  void HeartbeatLoop(RunningJob* job);
  void SampleQueue(RedisConnection& conn);
  // Registers options_.references under the model (reference_registry.h); idempotent.
  absl::Status RegisterReferences(RedisConnection& conn);
  // Renews options_.record_capacity (record_capacity_registry.h); OK when there is none.
  absl::Status AdvertiseCapacity(RedisConnection& conn);
  // evo2_worker_ready (and the `ready` probe file) = Redis reachable and not stopping; the
  // model is loaded and its self-test passed before a Worker exists.
  void PublishReady();
  // The value stored in Redis for a record: its serialization, or a results-store reference
  // when it is larger than options_.results_inline_max_bytes.
  absl::StatusOr<std::string> EncodeResult(const std::string& job_key, int64_t index, int attempt,
                                           const evo2::v1::RecordResult& result);
  absl::Status ScoreWithFaults(const evo2::v1::JobInput& input, int64_t index, RunningJob* job,
                               evo2::v1::RecordResult* out);

  WorkerOptions options_;
  RecordScorer& scorer_;
  WorkerMetrics& metrics_;
  std::unique_ptr<RedisConnection> conn_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobQueue> queue_;
  std::unique_ptr<RedisConnection> heartbeat_conn_;  // used only by the heartbeat thread
  std::atomic<int> stop_requests_{0};
  absl::Time last_reclaim_ = absl::InfinitePast();
  std::unique_ptr<std::regex> fail_regex_;
  std::atomic<bool> redis_reachable_{true};
  std::mt19937_64 rng_{std::random_device{}()};  // retry jitter
  HealthFiles health_files_;
  std::unique_ptr<ResultsStore> results_store_;  // null without options_.results_dir
};

}  // namespace evo2::svc
