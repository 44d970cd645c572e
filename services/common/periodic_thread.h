// A background thread that runs `tick` every `interval` until Stop(): the one stoppable
// periodic loop of the service's background tasks (Redis health probes, retry promotion).
// The wait is a condition-variable wait, so Stop() returns within one tick, not one interval;
// once it returns, no tick is running or will start.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace evo2::svc {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts the thread; the first tick runs one interval after the call. Call once.
  void Start(absl::Duration interval, std::function<void()> tick) {
    thread_ = std::thread([this, interval, tick = std::move(tick)] {
      while (true) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, absl::ToChronoMilliseconds(interval), [&] { return stop_; })) {
            return;
          }
        }
        tick();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace evo2::svc
