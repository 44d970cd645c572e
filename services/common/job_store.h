// JobStore: every read and write of job state in Redis, for both the API and the worker.
// Racing transitions go through the Lua scripts of job_scripts.h; this class only builds their
// arguments and turns their replies into statuses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "evo2/v1/job.pb.h"
#include "evo2/v1/jobs.pb.h"
#include "job_keys.h"
#include "redis_client.h"

namespace evo2::svc {

// A validated job ready to be queued (built by the API).
struct NewJob {
  std::string tenant;
  std::string job_id;
  std::string model;
  evo2::v1::Priority priority = evo2::v1::PRIORITY_NORMAL;
  std::string idempotency_key;  // "" = none
  std::string request_digest;   // SHA-256 hex of the canonical request (idempotency check)
  std::string input_blob;       // serialized evo2.v1.JobInput
  std::map<std::string, std::string> labels;
  int64_t bases = 0;
  int64_t records_total = 0;
  int64_t tokens_total = 0;
  int max_attempts = 3;
  int64_t ttl_s = 86400;        // retention of a terminal job and its results
  int64_t idempotency_ttl_s = 86400;
  int64_t max_active_jobs = 0;  // tenant quota (queued + running); 0 = unlimited
  int64_t max_active_bases = 0;
  absl::Duration quota_retry_delay = absl::Seconds(30);  // RetryInfo of a quota refusal
};

struct SubmitOutcome {
  std::string job_id;
  bool replay = false;  // the idempotency key matched an earlier identical submit
  evo2::v1::Job job;    // a new job as stored by the submit (QUEUED); empty for a replay
};

// Worker-side view of a claim.
struct ClaimOutcome {
  enum class Kind { kRun, kSkip, kDeadLettered };
  Kind kind = Kind::kSkip;
  int attempt = 0;
  std::string detail;  // why skipped (terminal state, "gone", "superseded")
};

// Result of a fenced worker write.
struct WriteOutcome {
  bool fenced = false;            // the worker no longer holds the job: stop, do not ack
  bool cancel_requested = false;  // CancelJob reached the job: stop after this record
  bool added = false;             // PutResult: this call stored the record (not a duplicate)
  std::string detail;
};

class JobStore {
 public:
  JobStore(RedisConnection& redis, JobKeys keys) : redis_(redis), keys_(std::move(keys)) {}
  const JobKeys& keys() const { return keys_; }

  // Creates the consumer group of each priority stream of `model` (idempotent; JobQueue).
  absl::Status EnsureQueues(const std::string& model);

  // ALREADY_EXISTS (key reused with another request), RESOURCE_EXHAUSTED (tenant quota, with
  // QuotaFailure + RetryInfo details, error_details.h).
  absl::StatusOr<SubmitOutcome> Submit(const NewJob& job);
  // NOT_FOUND when the job does not exist for this tenant (or expired).
  absl::StatusOr<evo2::v1::Job> Get(const std::string& tenant, const std::string& job_id);
  absl::StatusOr<evo2::v1::Job> GetByKey(const std::string& job_key);
  // NOT_FOUND; FAILED_PRECONDITION for SUCCEEDED/FAILED jobs. Returns the job afterwards.
  absl::StatusOr<evo2::v1::Job> Cancel(const std::string& tenant, const std::string& job_id);

  // Events after `after_id` ("" = from the start), at most `count`. When block_ms > 0 and none
  // is available yet, waits up to block_ms for new ones (needs a connection whose socket timeout
  // exceeds block_ms).
  absl::StatusOr<std::vector<evo2::v1::JobEvent>> ReadEvents(const std::string& tenant,
                                                             const std::string& job_id,
                                                             const std::string& after_id,
                                                             int64_t block_ms, int count);
  // The stored result blob of record `index`, nullopt when not (yet) there.
  absl::StatusOr<std::optional<std::string>> GetResult(const std::string& tenant,
                                                       const std::string& job_id, int64_t index);
  // Job ids of the tenant, newest first, created strictly before `before_us` (0 = now).
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ListIds(const std::string& tenant,
                                                                       int64_t before_us,
                                                                       int count);
  absl::Status ForgetId(const std::string& tenant, const std::string& job_id);

  // --- worker side (job_key comes from the queue entry) ---
  absl::StatusOr<ClaimOutcome> Claim(const std::string& job_key, const std::string& queue,
                                     const std::string& entry_id, const std::string& worker,
                                     int64_t lease_until_us,
                                     const std::map<std::string, std::string>& provenance);
  absl::StatusOr<WriteOutcome> Heartbeat(const std::string& job_key, const std::string& queue,
                                         const std::string& entry_id, const std::string& worker,
                                         int attempt, int64_t lease_until_us);
  absl::StatusOr<WriteOutcome> PutResult(const std::string& job_key, const std::string& worker,
                                         int attempt, int64_t record_index,
                                         const std::string& blob, int64_t tokens,
                                         const std::string& record_name);
  // A generate job's bases just drawn for (record, sample), as one TOKENS_GENERATED event.
  absl::StatusOr<WriteOutcome> EmitTokens(const std::string& job_key, const std::string& worker,
                                          int attempt, int64_t record_index,
                                          const std::string& record_name,
                                          const evo2::v1::GeneratedTokens& tokens);
  // A variant-scoring job's progress through its VCF, as one VARIANTS_PROGRESS event.
  absl::StatusOr<WriteOutcome> EmitVariantProgress(const std::string& job_key,
                                                   const std::string& worker, int attempt,
                                                   const evo2::v1::VariantProgress& progress);
  // state: SUCCEEDED, FAILED (with error) or CANCELLED.
  absl::StatusOr<WriteOutcome> Finish(const std::string& job_key, const std::string& worker,
                                      int attempt, evo2::v1::JobState state,
                                      const evo2::v1::JobError& error, const std::string& message);
  // Retryable failure: dead-letter when attempts are used up (detail "dead"), else park the job
  // (QUEUED, no queue entry) in `model`'s retry zset until `retry_at_us` (detail "delayed");
  // JobQueue::PromoteDueRetries queues it again then.
  absl::StatusOr<WriteOutcome> FailAttempt(const std::string& job_key, const std::string& worker,
                                           int attempt, const evo2::v1::JobError& error,
                                           const std::string& model, int64_t retry_at_us);
  // Draining worker hands the job back (attempt not counted).
  absl::StatusOr<WriteOutcome> Release(const std::string& job_key, const std::string& worker,
                                       int attempt);
  absl::StatusOr<std::string> GetInput(const std::string& job_key);
  // Indices of records already stored (a reclaimed job skips them).
  absl::StatusOr<std::vector<int64_t>> StoredRecordIndices(const std::string& job_key);

 private:
  absl::StatusOr<WriteOutcome> ParseWrite(absl::StatusOr<RedisReply> reply);

  RedisConnection& redis_;
  JobKeys keys_;
};

}  // namespace evo2::svc
