// One WatchJob stream read on its own thread into a queue, so that an HTTP Server-Sent Events
// response can wait for "the next event or the keep-alive interval, whichever comes first"
// (a blocking gRPC Read cannot time out) and can stop the watch when the browser goes away.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "evo2/v1/jobs.pb.h"
#include "job_client.h"

namespace evo2::svc {

class JobEventPump {
 public:
  // Watches `job_id` after `after_event_id` ("" = from the start) through `client`.
  JobEventPump(std::unique_ptr<evo2::client::JobClient> client, std::string job_id,
               std::string after_event_id);
  ~JobEventPump();  // Stop()

  struct Item {
    std::optional<evo2::v1::JobEvent> event;  // set: an event
    std::optional<absl::Status> end;          // set: the watch ended (OK after a terminal state)
    // neither: `wait` passed without news
  };
  // Starts the watch on first use; then the next event, the end, or nothing after `wait`.
  Item Next(absl::Duration wait);
  // Cancels the watch and joins its thread. Idempotent.
  void Stop();

 private:
  void Run();

  std::unique_ptr<evo2::client::JobClient> client_;
  std::string job_id_;
  std::string after_event_id_;
  std::unique_ptr<grpc::ClientContext> ctx_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<evo2::v1::JobEvent> events_;  // guarded by mu_
  std::optional<absl::Status> end_;        // guarded by mu_
  bool started_ = false;
  std::thread thread_;
};

}  // namespace evo2::svc
