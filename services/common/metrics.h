// Prometheus plumbing shared by evo2-api and evo2-worker: one registry per process, served on
// /metrics by prometheus-cpp's embedded HTTP server. Metric names follow
// evo2_<component>_<what>_<unit> (docs/service.md "Metrics").
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace evo2::svc {

class MetricsEndpoint {
 public:
  // bind: "0.0.0.0:9464", "127.0.0.1:0" (ephemeral port) or "" (no HTTP endpoint; metrics are
  // still collected).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& bind);

  prometheus::Registry& registry() { return *registry_; }
  int port() const { return port_; }  // 0 when not serving

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// Latency buckets from 1 ms to ~1 h (job waits and runs span that range).
prometheus::Histogram::BucketBoundaries LatencyBucketsSeconds();
// Buckets for short operations, 100 µs .. 10 s (RPCs, submits, single forwards).
prometheus::Histogram::BucketBoundaries ShortLatencyBucketsSeconds();

}  // namespace evo2::svc
