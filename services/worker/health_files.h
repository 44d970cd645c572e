// The worker's probe files, for Kubernetes exec probes (deploy/k8s/base/worker.yaml,
// docs/service.md "Health"): no HTTP server or port is needed and the files live in a
// memory-backed volume.
//   <dir>/alive  written once the model is loaded and the self-test passed, then touched every
//                turn of the worker loop and after every record: its age is the liveness signal
//                (a wedged GPU never returns from the engine call, so the file ages).
//   <dir>/ready  exists exactly while evo2_worker_ready is 1.
// An empty directory turns both off.
#pragma once

#include <filesystem>
#include <mutex>

#include "absl/status/status.h"

namespace evo2::svc {

class HealthFiles {
 public:
  explicit HealthFiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed and removes a stale `ready`; fails when it is not writable.
  absl::Status Init();
  void TouchAlive();
  void SetReady(bool ready);

 private:
  std::filesystem::path dir_;
  std::mutex mu_;  // SetReady is called from the health checker's and the main thread
};

}  // namespace evo2::svc
