// The longest record each live worker of a model can hold in memory (docs/service.md, "Limits").
//
// A worker computes it at start from its engine's memory plan and budget (evo2/record_capacity.h)
// and advertises it under its model, again every metrics interval, with a time-to-live of a few
// intervals: a worker that dies stops renewing and its advertisement expires (Redis's clock, so
// the API and the workers need not agree on the time). The API refuses a record longer than the
// largest advertisement of a live worker; with none alive it uses the configured limit only.
//
//   {p}q:{model}:capacity            set     worker ids that advertised (an index; stale ids are
//                                            dropped by the reader once their key is gone)
//   {p}q:{model}:capacity:{worker}   string  "<log-probs tokens> <logits tokens>", PX ttl
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "job_keys.h"
#include "redis_client.h"

namespace evo2::svc {

struct RecordCapacity {
  std::string worker_id;
  int64_t log_probs_tokens = 0;  // longest record when only log-probs are asked
  int64_t logits_tokens = 0;     // longest record when full logits are asked too
};

// Sets (or renews) `capacity` for `model`, expiring after `ttl`.
absl::Status AdvertiseRecordCapacity(RedisConnection& redis, const JobKeys& keys,
                                     const std::string& model, const RecordCapacity& capacity,
                                     absl::Duration ttl);

// Removes a worker's advertisement (a worker that stops cleanly).
absl::Status WithdrawRecordCapacity(RedisConnection& redis, const JobKeys& keys,
                                    const std::string& model, const std::string& worker_id);

// The advertisements of `model`'s live workers, sorted by worker id; empty when none is alive.
absl::StatusOr<std::vector<RecordCapacity>> LiveRecordCapacities(RedisConnection& redis,
                                                                 const JobKeys& keys,
                                                                 const std::string& model);

}  // namespace evo2::svc
