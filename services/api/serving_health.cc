#include "serving_health.h"

#include "evo2/v1/jobs.grpc.pb.h"

namespace evo2::svc {

ServingHealth::ServingHealth(grpc::HealthCheckServiceInterface* health) : health_(health) {
  std::lock_guard<std::mutex> lock(mu_);
  PublishLocked();
}

void ServingHealth::SetRedisReachable(bool reachable) {
  std::lock_guard<std::mutex> lock(mu_);
  redis_reachable_ = reachable;
  PublishLocked();
}

void ServingHealth::BeginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
  PublishLocked();
}

void ServingHealth::PublishLocked() {
  const bool serving = redis_reachable_ && !draining_;
  health_->SetServingStatus("", serving);
  health_->SetServingStatus(evo2::v1::JobService::service_full_name(), serving);
  health_->SetServingStatus(kLivenessService, !draining_);
}

}  // namespace evo2::svc
