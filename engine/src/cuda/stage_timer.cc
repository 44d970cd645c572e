#include "cuda/stage_timer.h"

#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

StageTimer::~StageTimer() {
  for (auto& [name, ev] : marks_) cudaEventDestroy(ev);
}

void StageTimer::Mark(cudaStream_t stream, const char* stage) {
  cudaEvent_t ev = nullptr;
  if (cudaEventCreate(&ev) != cudaSuccess) return;  // profiling only: a lost mark is harmless
  cudaEventRecord(ev, stream);
  marks_.emplace_back(stage, ev);
}

absl::StatusOr<std::map<std::string, double>> StageTimer::TotalsMs() {
  std::map<std::string, double> totals;
  if (marks_.empty()) return totals;
  CUDA_RETURN_IF_ERROR(cudaEventSynchronize(marks_.back().second));
  for (size_t i = 1; i < marks_.size(); ++i) {
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, marks_[i - 1].second, marks_[i].second));
    totals[marks_[i].first] += ms;
  }
  return totals;
}

}  // namespace evo2::cuda
