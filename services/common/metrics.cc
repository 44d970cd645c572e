#include "metrics.h"

#include "absl/strings/str_cat.h"

namespace evo2::svc {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& bind) {
  auto m = std::make_unique<MetricsEndpoint>();
  m->registry_ = std::make_shared<prometheus::Registry>();
  if (bind.empty()) return m;
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(bind);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics endpoint '", bind, "': ", e.what()));
  }
  m->exposer_->RegisterCollectable(m->registry_, "/metrics");
  auto ports = m->exposer_->GetListeningPorts();
  if (!ports.empty()) m->port_ = ports[0];
  return m;
}

prometheus::Histogram::BucketBoundaries LatencyBucketsSeconds() {
  return {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}

prometheus::Histogram::BucketBoundaries ShortLatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
          10};
}

}  // namespace evo2::svc
