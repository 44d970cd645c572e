// What the API's grpc.health.v1 service reports. Readiness, for the whole server ("") and for
// "evo2.v1.JobService": SERVING while Redis is reachable (RedisHealthChecker's hysteresis) and
// the server is not draining, NOT_SERVING otherwise; once draining, it never goes back.
// Liveness, under kLivenessService: SERVING until the drain, whatever Redis does, because
// restarting the API cannot bring Redis back (a liveness probe on "" would restart every
// replica during a Redis outage).
#pragma once

#include <mutex>

#include "grpcpp/health_check_service_interface.h"

namespace evo2::svc {

inline constexpr char kLivenessService[] = "liveness";

class ServingHealth {
 public:
  // `health` is the server's default health service (grpc::EnableDefaultHealthCheckService).
  explicit ServingHealth(grpc::HealthCheckServiceInterface* health);
  void SetRedisReachable(bool reachable);
  // Start of a drain: NOT_SERVING for good, while the server still answers, so that load
  // balancers that probe health see the change before the listener goes away.
  void BeginDrain();

 private:
  void PublishLocked();

  grpc::HealthCheckServiceInterface* health_;
  std::mutex mu_;
  bool redis_reachable_ = true;
  bool draining_ = false;
};

}  // namespace evo2::svc
