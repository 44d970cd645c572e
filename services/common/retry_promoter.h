// Queues parked retries whose time has come (JobQueue::PromoteDueRetries) for a set of models,
// from a background thread. Workers promote before each read, but when the autoscaler has taken
// the workers to zero (KEDA scales on queue lag, and a parked job is not in the stream yet),
// nobody would: the API runs this so that a due retry shows up as lag and brings a worker back.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "job_keys.h"
#include "periodic_thread.h"
#include "redis_client.h"

namespace evo2::svc {

class RetryPromoter {
 public:
  RetryPromoter(RedisOptions redis, JobKeys keys, std::vector<std::string> models,
                absl::Duration interval);
  ~RetryPromoter();  // Stop()
  RetryPromoter(const RetryPromoter&) = delete;
  RetryPromoter& operator=(const RetryPromoter&) = delete;

  void Stop();

 private:
  void Tick();

  RedisOptions redis_;
  JobKeys keys_;
  std::vector<std::string> models_;
  std::unique_ptr<RedisConnection> conn_;  // promoter thread only
  PeriodicThread thread_;                  // last: stopped before the members it uses go
};

}  // namespace evo2::svc
