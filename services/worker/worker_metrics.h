// The worker's Prometheus series (docs/service.md "Metrics"; names evo2_worker_<what>_<unit>).
#pragma once

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace evo2::svc {

struct WorkerMetrics {
  WorkerMetrics(prometheus::Registry& registry, const std::string& model);

  // Outcomes: succeeded, failed, cancelled, dead_lettered, retried, released, lost.
  void JobOutcome(const std::string& outcome) {
    jobs_.Add({{"model", model_}, {"outcome", outcome}}).Increment();
  }
  void QueueDepth(const std::string& priority, double lag, double pending) {
    queue_depth_.Add({{"model", model_}, {"priority", priority}}).Set(lag);
    queue_pending_.Add({{"model", model_}, {"priority", priority}}).Set(pending);
  }

  std::string model_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_pending_;
  prometheus::Gauge& oldest_job_age_seconds;
  prometheus::Histogram& queue_wait_seconds;
  prometheus::Histogram& job_duration_seconds;
  prometheus::Histogram& forward_seconds;
  prometheus::Histogram& batch_size_records;
  prometheus::Counter& tokens_processed;
  prometheus::Gauge& tokens_per_second;
  prometheus::Counter& records_processed;
  prometheus::Counter& redeliveries;
  prometheus::Gauge& busy;
  prometheus::Gauge& ready;
  prometheus::Gauge& device_memory_bytes;
  // The longest record the engine can hold (record_capacity_measure.h), by output:
  // "log_probs" or "logits".
  prometheus::Family<prometheus::Gauge>& max_record_tokens;
};

}  // namespace evo2::svc
