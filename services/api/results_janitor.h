// Removes a job's directory from the results store once the job has expired from Redis, so that
// stored results live exactly as long as the job (its TTL). Runs in the API (any number of
// replicas may run it at once: removal is idempotent).
#pragma once

#include "absl/time/time.h"
#include "job_keys.h"
#include "periodic_thread.h"
#include "redis_pool.h"
#include "results_store.h"

namespace evo2::svc {

class ResultsJanitor {
 public:
  // Every `interval`, removes the directories of jobs whose hash no longer exists and whose
  // directory is older than `grace` (a worker may be writing a job's first result right now).
  ResultsJanitor(ResultsStore store, JobKeys keys, RedisPool& redis, absl::Duration interval,
                 absl::Duration grace);
  void Stop() { thread_.Stop(); }

 private:
  void Sweep();

  ResultsStore store_;
  JobKeys keys_;
  RedisPool& redis_;
  absl::Duration grace_;
  PeriodicThread thread_;  // last: stopped (joined) before the members it uses go
};

}  // namespace evo2::svc
