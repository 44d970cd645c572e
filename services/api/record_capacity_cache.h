// The API's in-memory view of the longest records live workers advertise
// (record_capacity_registry.h), refreshed from Redis by a background thread. SubmitJob checks
// records against this view and makes no Redis call of its own for it: a submit stays a single
// script round trip, which the exactly-once retry of a submit across an API crash relies on
// (docs/service.md, "The longest record workers can hold").
//
// How stale the view can be, by design:
//  * a worker that just advertised appears within one refresh interval; until then only the
//    configured limit applies to its model, and a longer job is queued (and waits for a worker
//    that can hold it, as with no worker alive);
//  * a worker that died drops out once its advertisement expires in Redis (three of its metrics
//    intervals) plus at most one refresh interval;
//  * while refreshes fail (Redis unreachable), the last good view is kept for `max_stale` after
//    the last good refresh, then dropped (configured limits only) until a refresh succeeds. The
//    first failure and the recovery are logged once each, not every interval.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "job_keys.h"
#include "periodic_thread.h"
#include "record_capacity_registry.h"
#include "redis_client.h"

namespace evo2::svc {

struct RecordCapacityCacheOptions {
  absl::Duration refresh_interval = absl::Seconds(1);
  // While refreshes fail, the last good view is used until it is this old (0 = dropped at the
  // first failure). While they succeed, the view is at most one refresh old.
  absl::Duration max_stale = absl::Seconds(15);
};

class RecordCapacityCache {
 public:
  // Reads the advertisements of `models` once before returning (so an API that starts next to
  // running workers knows them from its first submit), then every options.refresh_interval.
  RecordCapacityCache(RedisOptions redis, JobKeys keys, std::vector<std::string> models,
                      RecordCapacityCacheOptions options);
  ~RecordCapacityCache();  // Stop()
  RecordCapacityCache(const RecordCapacityCache&) = delete;
  RecordCapacityCache& operator=(const RecordCapacityCache&) = delete;

  // Ends the refresh thread; returns within one Redis command timeout (at most 2 s). Live()
  // keeps answering from the last view.
  void Stop();

  // The advertisements of `model`'s live workers as of the last good refresh, sorted by worker
  // id; empty when none, for a model not in the list, or when refreshes have been failing and
  // the last good one is older than max_stale. Thread-safe; no Redis call.
  std::vector<RecordCapacity> Live(const std::string& model) const;

 private:
  using Clock = std::chrono::steady_clock;  // staleness must not jump with the wall clock

  void Refresh();

  JobKeys keys_;
  std::vector<std::string> models_;
  RecordCapacityCacheOptions options_;
  RedisOptions redis_;
  std::unique_ptr<RedisConnection> conn_;  // refresh thread only (the constructor before it)

  mutable std::mutex mu_;
  std::map<std::string, std::vector<RecordCapacity>> view_;  // guarded by mu_; model -> live
  Clock::time_point refreshed_at_;                           // guarded by mu_: last good one
  bool has_view_ = false;                                    // guarded by mu_
  bool refresh_failing_ = false;  // guarded by mu_: the latest refresh failed

  PeriodicThread thread_;  // last: stopped (joined) before the members it uses go
};

}  // namespace evo2::svc
