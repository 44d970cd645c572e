#include "redis_health.h"

#include <algorithm>

namespace evo2::svc {

ReachabilityHysteresis::ReachabilityHysteresis(int failures_to_down, int successes_to_up)
    : failures_to_down_(std::max(1, failures_to_down)),
      successes_to_up_(std::max(1, successes_to_up)) {}

bool ReachabilityHysteresis::Record(bool probe_ok) {
  if (probe_ok == up_) {
    streak_ = 0;
    return false;
  }
  ++streak_;
  if (streak_ < (up_ ? failures_to_down_ : successes_to_up_)) return false;
  up_ = !up_;
  streak_ = 0;
  return true;
}

RedisHealthChecker::RedisHealthChecker(RedisHealthOptions options,
                                       std::function<void(bool)> on_change)
    : options_(std::move(options)),
      on_change_(std::move(on_change)),
      state_(options_.failures_to_down, options_.successes_to_up) {
  // A stopped (SIGSTOP) or partitioned Redis accepts the TCP connection but never answers:
  // the PING must time out within about one interval to count as a failure.
  const absl::Duration timeout =
      std::clamp(options_.interval, absl::Milliseconds(100), absl::Seconds(5));
  options_.redis.connect_timeout = timeout;
  options_.redis.command_timeout = timeout;
  thread_.Start(options_.interval, [this] { Tick(); });
}

RedisHealthChecker::~RedisHealthChecker() { Stop(); }

void RedisHealthChecker::Stop() { thread_.Stop(); }

bool RedisHealthChecker::Probe() {
  if (conn_ == nullptr) {
    auto c = RedisConnection::Connect(options_.redis);
    if (!c.ok()) return false;
    conn_ = std::move(*c);
  }
  auto pong = conn_->Command({"PING"});
  return pong.ok() && pong->str == "PONG";
}

void RedisHealthChecker::Tick() {
  if (state_.Record(Probe())) on_change_(state_.up());
}

}  // namespace evo2::svc
