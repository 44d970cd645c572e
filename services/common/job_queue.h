// JobQueue: the Redis stream protocol of one model's queue, in one place — one stream per
// priority class (JobKeys::Queue, kPriorityClasses), consumer group kWorkerGroup. Entries are
// added by the submit script (job_scripts.h); workers read, reclaim and sample them here
// (docs/service.md, "Delivery semantics").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "job_keys.h"
#include "redis_client.h"

namespace evo2::svc {

// One stream entry: which priority stream, its id, and the job hash key it carries.
struct QueueEntry {
  std::string queue;
  std::string id;
  std::string job_key;
};

// What the consumer group of one priority stream has not finished.
struct QueueClassDepth {
  const char* priority_class = "";
  double lag = 0;      // entries not yet delivered to any worker
  double pending = 0;  // delivered, not yet acknowledged
};

struct QueueSample {
  std::vector<QueueClassDepth> classes;  // streams that could be read
  double oldest_undelivered_s = 0;       // age of the oldest entry no worker has taken yet
};

class JobQueue {
 public:
  JobQueue(RedisConnection& redis, JobKeys keys, std::string model)
      : redis_(redis), keys_(std::move(keys)), model_(std::move(model)) {}

  // Creates each priority stream and its consumer group (idempotent).
  absl::Status EnsureGroups();

  // Takes over (XAUTOCLAIM) one entry that its holder has not heartbeaten for `idle`, highest
  // class first; empty when there is none.
  absl::StatusOr<std::vector<QueueEntry>> Reclaim(const std::string& consumer, absl::Duration idle);

  // One new entry of the highest class that has one; when all are empty, blocks up to `block`
  // on all classes at once, which may return one entry per class (the claim script re-checks
  // that the consumer still holds each).
  absl::StatusOr<std::vector<QueueEntry>> ReadNew(const std::string& consumer,
                                                  absl::Duration block);

  // Queues the jobs of the retry zset (JobKeys::RetryQueue) whose retry time has passed, each
  // under a fresh entry of its priority stream; returns how many. Every worker calls this before
  // it reads, so a backoff ends within one read's block time of its retry time.
  absl::StatusOr<int64_t> PromoteDueRetries();

  // Lag, pending count and the oldest undelivered entry's age, for the queue metrics.
  QueueSample Sample();

 private:
  RedisConnection& redis_;
  JobKeys keys_;
  std::string model_;
};

}  // namespace evo2::svc
