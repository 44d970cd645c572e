// evo2.v1.JobService on Redis: authenticates the caller, validates, stores and queues jobs,
// streams events and results back. Holds no job state itself (any replica can serve any call).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "api_keys.h"
#include "evo2/v1/jobs.grpc.pb.h"
#include "job_keys.h"
#include "model_catalog.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "record_capacity_cache.h"
#include "redis_pool.h"
#include "results_store.h"
#include "status_details.h"
#include "submit_validation.h"

namespace evo2::svc {

struct ApiConfig {
  JobKeys keys;
  SubmitLimits limits;
  int max_attempts = 3;
  int64_t job_ttl_s = 86400;
  int64_t max_active_jobs_per_tenant = 1000;
  int64_t max_active_bases_per_tenant = 500'000'000;
  // RetryInfo sent with a tenant-quota refusal: quota frees as the tenant's jobs finish.
  int64_t quota_retry_delay_s = 30;
  int64_t watch_block_ms = 2000;  // XREAD BLOCK per round of WatchJob / GetJobResults
  // WatchJob sends a KEEPALIVE event after this long without one (jobs.proto); 0 = never.
  int64_t watch_keepalive_ms = 15000;
  // Results store shared with the workers (results_store.h); "" = none (every result in Redis).
  std::string results_dir;
};

class JobServiceImpl final : public evo2::v1::JobService::Service {
 public:
  // `capacities`: the live workers' record capacities, read at submit and by ListModels; it
  // must outlive the service.
  JobServiceImpl(ApiConfig config, ModelCatalog models, ApiKeyRegistry keys, RedisPool& redis,
                 const RecordCapacityCache& capacities, prometheus::Registry& metrics);

  // SubmitJob is served by SubmitJobRaw (see the constructor), not by the typed override.
  grpc::Status GetJob(grpc::ServerContext* ctx, const evo2::v1::GetJobRequest* req,
                      evo2::v1::Job* resp) override;
  grpc::Status WatchJob(grpc::ServerContext* ctx, const evo2::v1::WatchJobRequest* req,
                        grpc::ServerWriter<evo2::v1::JobEvent>* writer) override;
  grpc::Status GetJobResults(grpc::ServerContext* ctx, const evo2::v1::GetJobResultsRequest* req,
                             grpc::ServerWriter<evo2::v1::ResultChunk>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* ctx, const evo2::v1::CancelJobRequest* req,
                         evo2::v1::Job* resp) override;
  grpc::Status ListJobs(grpc::ServerContext* ctx, const evo2::v1::ListJobsRequest* req,
                        evo2::v1::ListJobsResponse* resp) override;
  grpc::Status ListModels(grpc::ServerContext* ctx, const evo2::v1::ListModelsRequest* req,
                          evo2::v1::ListModelsResponse* resp) override;

  // Draining: streams end with UNAVAILABLE so clients reconnect to another replica.
  void BeginShutdown() { draining_ = true; }

 private:
  template <typename Fn>
  grpc::Status Instrument(const char* method, Fn&& fn);
  absl::StatusOr<std::string> Authenticate(grpc::ServerContext* ctx) const;
  // SubmitJob on the request's bytes: text fields are checked for UTF-8 before protobuf parses
  // them (utf8_fields.h), so a bad record name is a precise INVALID_ARGUMENT, not INTERNAL.
  grpc::Status SubmitJobRaw(grpc::ServerContext* ctx,
                            grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream);
  absl::Status DoSubmit(const std::string& tenant, const evo2::v1::SubmitJobRequest& req,
                        evo2::v1::SubmitJobResponse* resp);

  ApiConfig config_;
  ModelCatalog models_;
  ApiKeyRegistry api_keys_;
  RedisPool& redis_;
  const RecordCapacityCache& capacities_;
  ResultsStore results_store_;
  std::atomic<bool> draining_{false};

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& submitted_jobs_;
  prometheus::Family<prometheus::Counter>& submitted_bases_;
};

}  // namespace evo2::svc
