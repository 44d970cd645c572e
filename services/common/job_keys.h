// The Redis key layout of the job service (docs/service.md, "Redis schema").
//
//   {p}t:{tenant}:job:{id}           hash    the job (state, progress, timestamps, error, ...)
//   {p}t:{tenant}:job:{id}:input     string  evo2.v1.JobInput (validated records + options)
//   {p}t:{tenant}:job:{id}:events    stream  job events (replayable by WatchJob)
//   {p}t:{tenant}:job:{id}:results   hash    record index -> evo2.v1.RecordResult (HSETNX)
//   {p}t:{tenant}:jobs               zset    job id scored by create time (µs), for ListJobs
//   {p}t:{tenant}:quota              hash    active_jobs, active_bases (queued + running)
//   {p}t:{tenant}:idem:{key}         string  "<job id> <request digest>" (idempotency)
//   {p}q:{model}:{high|normal|low}   stream  the model's queue, consumer group "workers"
//   {p}q:{model}:retry               zset    jobs waiting out a retry backoff, by retry time
//   {p}q:{model}:active              stream  one entry per queued, running or retry-waiting job
//                                            (added by submit, deleted at the job's end): its
//                                            XLEN is what the autoscaler scales on
//   {p}q:{model}:references          hash    reference name -> what the worker registering it
//                                            said of it (variant-scoring jobs)
//   {p}q:{model}:capacity[:{worker}] set/str the longest record each live worker can hold
//                                            (record_capacity_registry.h)
//   {p}dead                          stream  dead-lettered jobs (tenant, job, error)
//
// Tenants are part of every job key, so a lookup with the caller's tenant cannot reach another
// tenant's job (NOT_FOUND by construction). The prefix lets several deployments share a Redis.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace evo2::svc {

inline constexpr char kWorkerGroup[] = "workers";

// Priority class names used in queue keys, highest first.
inline constexpr const char* kPriorityClasses[] = {"high", "normal", "low"};

class JobKeys {
 public:
  explicit JobKeys(std::string prefix = "evo2:") : prefix_(std::move(prefix)) {}
  const std::string& prefix() const { return prefix_; }

  std::string Job(const std::string& tenant, const std::string& id) const {
    return absl::StrCat(prefix_, "t:", tenant, ":job:", id);
  }
  // The inverse of Job(): false when `job_key` is not a job key of this prefix.
  bool SplitJob(const std::string& job_key, std::string* tenant, std::string* id) const {
    const std::string head = absl::StrCat(prefix_, "t:");
    if (job_key.compare(0, head.size(), head) != 0) return false;
    const size_t sep = job_key.find(":job:", head.size());
    if (sep == std::string::npos) return false;
    *tenant = job_key.substr(head.size(), sep - head.size());
    *id = job_key.substr(sep + 5);
    return !tenant->empty() && !id->empty();
  }
  std::string Input(const std::string& tenant, const std::string& id) const {
    return absl::StrCat(Job(tenant, id), ":input");
  }
  std::string Events(const std::string& tenant, const std::string& id) const {
    return absl::StrCat(Job(tenant, id), ":events");
  }
  std::string Results(const std::string& tenant, const std::string& id) const {
    return absl::StrCat(Job(tenant, id), ":results");
  }
  std::string TenantJobs(const std::string& tenant) const {
    return absl::StrCat(prefix_, "t:", tenant, ":jobs");
  }
  std::string TenantQuota(const std::string& tenant) const {
    return absl::StrCat(prefix_, "t:", tenant, ":quota");
  }
  std::string Idempotency(const std::string& tenant, const std::string& key) const {
    return absl::StrCat(prefix_, "t:", tenant, ":idem:", key);
  }
  // priority_class: one of kPriorityClasses.
  std::string Queue(const std::string& model, const std::string& priority_class) const {
    return absl::StrCat(prefix_, "q:", model, ":", priority_class);
  }
  // Jobs of `model` waiting for their next attempt (scored by retry time, µs).
  std::string RetryQueue(const std::string& model) const {
    return absl::StrCat(prefix_, "q:", model, ":retry");
  }
  // One entry per job of `model` that is not finished: queued, running or waiting out a retry
  // backoff. KEDA scales workers on its length (deploy/k8s/keda): unlike the consumer group's
  // lag it still counts jobs once they are claimed, and a job cancelled while queued leaves it
  // at once. (Entries are never read by a consumer group, so deleting them costs no lag.)
  std::string ActiveWork(const std::string& model) const {
    return absl::StrCat(prefix_, "q:", model, ":active");
  }
  // Reference genomes registered by the model's workers (reference_registry.h).
  std::string References(const std::string& model) const {
    return absl::StrCat(prefix_, "q:", model, ":references");
  }
  // Index of the workers advertising their record capacity (record_capacity_registry.h).
  std::string RecordCapacities(const std::string& model) const {
    return absl::StrCat(prefix_, "q:", model, ":capacity");
  }
  // One worker's advertisement; expires unless the worker renews it.
  std::string RecordCapacity(const std::string& model, const std::string& worker_id) const {
    return absl::StrCat(RecordCapacities(model), ":", worker_id);
  }
  std::string DeadLetter() const { return absl::StrCat(prefix_, "dead"); }

 private:
  std::string prefix_;
};

}  // namespace evo2::svc
