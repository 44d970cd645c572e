#include "worker_metrics.h"

#include "metrics.h"

namespace evo2::svc {
namespace {

prometheus::Labels M(const std::string& model) { return {{"model", model}}; }

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& r, const std::string& model)
    : model_(model),
      jobs_(prometheus::BuildCounter()
                .Name("evo2_worker_jobs_total")
                .Help("Jobs handled by this worker, by outcome")
                .Register(r)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("evo2_worker_queue_depth")
                       .Help("Jobs waiting in the model's queue (consumer-group lag), by priority")
                       .Register(r)),
      queue_pending_(prometheus::BuildGauge()
                         .Name("evo2_worker_queue_pending")
                         .Help("Jobs delivered to a worker and not yet acknowledged")
                         .Register(r)),
      oldest_job_age_seconds(prometheus::BuildGauge()
                                 .Name("evo2_worker_oldest_job_age_seconds")
                                 .Help("Age of the oldest job not yet delivered to any worker")
                                 .Register(r)
                                 .Add(M(model))),
      queue_wait_seconds(prometheus::BuildHistogram()
                             .Name("evo2_worker_queue_wait_seconds")
                             .Help("Submit to first claim")
                             .Register(r)
                             .Add(M(model), LatencyBucketsSeconds())),
      job_duration_seconds(prometheus::BuildHistogram()
                               .Name("evo2_worker_job_duration_seconds")
                               .Help("Claim to terminal state, per attempt")
                               .Register(r)
                               .Add(M(model), LatencyBucketsSeconds())),
      forward_seconds(prometheus::BuildHistogram()
                          .Name("evo2_worker_forward_seconds")
                          .Help("Engine time per record (all forwards it needs)")
                          .Register(r)
                          .Add(M(model), LatencyBucketsSeconds())),
      batch_size_records(
          prometheus::BuildHistogram()
              .Name("evo2_worker_batch_size_records")
              .Help("Records per engine call (the worker scores one record per call)")
              .Register(r)
              .Add(M(model), prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})),
      tokens_processed(prometheus::BuildCounter()
                           .Name("evo2_worker_tokens_processed_total")
                           .Help("Tokens scored (including BOS)")
                           .Register(r)
                           .Add(M(model))),
      tokens_per_second(prometheus::BuildGauge()
                            .Name("evo2_worker_tokens_per_second")
                            .Help("Throughput of the last record")
                            .Register(r)
                            .Add(M(model))),
      records_processed(prometheus::BuildCounter()
                            .Name("evo2_worker_records_processed_total")
                            .Help("Records scored and stored")
                            .Register(r)
                            .Add(M(model))),
      redeliveries(prometheus::BuildCounter()
                       .Name("evo2_worker_redeliveries_total")
                       .Help("Claims of a job that an earlier attempt had already started")
                       .Register(r)
                       .Add(M(model))),
      busy(prometheus::BuildGauge()
               .Name("evo2_worker_busy")
               .Help("1 while a job is running")
               .Register(r)
               .Add(M(model))),
      ready(prometheus::BuildGauge()
                .Name("evo2_worker_ready")
                .Help("1 once the model is loaded and the worker pulls jobs")
                .Register(r)
                .Add(M(model))),
      device_memory_bytes(prometheus::BuildGauge()
                              .Name("evo2_worker_device_memory_bytes")
                              .Help("GPU memory the engine holds (weights, workspace, library "
                                    "scratch); 0 on CPU workers")
                              .Register(r)
                              .Add(M(model))),
      max_record_tokens(prometheus::BuildGauge()
                            .Name("evo2_worker_max_record_tokens")
                            .Help("Longest record (tokens) the engine can hold in its memory "
                                  "budget, as advertised to the API")
                            .Register(r)) {}

}  // namespace evo2::svc
