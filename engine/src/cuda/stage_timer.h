// Optional per-stage timing of a forward (benchmark profile runs only): CUDA events recorded on
// the stream between launches; the time between two marks is charged to the later mark's stage.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evo2::cuda {

class StageTimer {
 public:
  StageTimer() = default;
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;
  ~StageTimer();

  // Records an event on `stream`; the interval since the previous mark is charged to `stage`.
  void Mark(cudaStream_t stream, const char* stage);
  // Waits for the events and returns milliseconds per stage (summed over all marks).
  absl::StatusOr<std::map<std::string, double>> TotalsMs();

 private:
  std::vector<std::pair<std::string, cudaEvent_t>> marks_;
};

}  // namespace evo2::cuda
