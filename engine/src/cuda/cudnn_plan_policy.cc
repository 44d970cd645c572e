#include "cuda/cudnn_plan_policy.h"

namespace evo2::cuda {

double CudnnPlanPolicy::PassSavingSeconds(int64_t batch, int64_t seq) const {
  const double flops = 2.0 * static_cast<double>(batch) * static_cast<double>(seq) *
                       static_cast<double>(seq) * static_cast<double>(hidden_) *
                       attention_layers_;
  return flops / kOwnFlops - flops / kCudnnFlops;
}

bool CudnnPlanPolicy::ShouldUse(int64_t batch, int64_t seq) {
  if (attention_layers_ == 0 || refused_.count({batch, seq}) != 0) return false;
  if (mode_ == Mode::kAlways) return true;
  if (batch * seq < kMinRows) return false;
  if (passes_.size() >= kMaxTrackedShapes) passes_.clear();  // bounded memory; only costs a pass
  const int passes = ++passes_[{batch, seq}];
  return passes >= 2 || PassSavingSeconds(batch, seq) >= kPlanBuildSeconds;
}

}  // namespace evo2::cuda
