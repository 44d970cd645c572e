// Readiness that follows Redis reachability: a background thread PINGs Redis on its own
// connection, and the reported state changes only after several probes in a row agree, so that
// one slow PING does not pull a replica out of its load balancer and one lucky PING does not
// put back a replica whose Redis is flapping (docs/service.md, "Health").
#pragma once

#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "periodic_thread.h"
#include "redis_client.h"

namespace evo2::svc {

// The hysteresis alone (no I/O): down after `failures_to_down` failed probes in a row, up again
// after `successes_to_up` good ones in a row. Starts up: the binaries reach Redis before they
// report anything.
class ReachabilityHysteresis {
 public:
  ReachabilityHysteresis(int failures_to_down, int successes_to_up);
  // Records one probe; true when the reported state changed.
  bool Record(bool probe_ok);
  bool up() const { return up_; }

 private:
  int failures_to_down_;
  int successes_to_up_;
  bool up_ = true;
  int streak_ = 0;  // probes in a row that disagree with up_
};

struct RedisHealthOptions {
  RedisOptions redis;
  absl::Duration interval = absl::Seconds(1);  // between PINGs; also the PING's timeout
  int failures_to_down = 3;
  int successes_to_up = 2;
};

class RedisHealthChecker {
 public:
  // `on_change(reachable)` runs on the checker thread at each change of the reported state.
  RedisHealthChecker(RedisHealthOptions options, std::function<void(bool)> on_change);
  ~RedisHealthChecker();  // Stop()
  RedisHealthChecker(const RedisHealthChecker&) = delete;
  RedisHealthChecker& operator=(const RedisHealthChecker&) = delete;

  // Stops the thread; no on_change call starts after it returns.
  void Stop();

 private:
  void Tick();
  bool Probe();

  RedisHealthOptions options_;
  std::function<void(bool)> on_change_;
  ReachabilityHysteresis state_;
  std::unique_ptr<RedisConnection> conn_;  // checker thread only
  PeriodicThread thread_;                  // last: stopped before the members it uses go
};

}  // namespace evo2::svc
