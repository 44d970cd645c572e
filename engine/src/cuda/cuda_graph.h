// RAII for an instantiated CUDA graph, and capture of the work a function enqueues on a stream.
// The decoder replays one step as a graph: a step of the 7B is ~300 launches of a few µs each,
// and replaying them as one graph removes the host's per-launch cost (docs/spec/model.md §12).
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2::cuda {

class CudaGraphExec {
 public:
  CudaGraphExec() = default;
  explicit CudaGraphExec(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraphExec() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
  }
  CudaGraphExec(CudaGraphExec&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  CudaGraphExec& operator=(CudaGraphExec&& o) noexcept {
    if (this != &o) {
      if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  CudaGraphExec(const CudaGraphExec&) = delete;
  CudaGraphExec& operator=(const CudaGraphExec&) = delete;

  absl::Status Launch(cudaStream_t stream) const;

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// Captures what `enqueue` launches on `stream` (thread-local capture mode) and instantiates it.
// An error from `enqueue` or from the capture ends the capture and is returned.
absl::StatusOr<CudaGraphExec> CaptureGraph(cudaStream_t stream,
                                           const std::function<absl::Status()>& enqueue);

}  // namespace evo2::cuda
