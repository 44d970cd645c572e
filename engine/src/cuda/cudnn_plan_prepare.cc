#include "cuda/cudnn_plan_prepare.h"

namespace evo2::cuda {

absl::Status PrepareCudnnPlanIfPicked(CudnnAttention* attention, CudnnPlanPolicy* policy,
                                      int64_t batch, int64_t heads, int64_t seq, int64_t head_dim) {
  if (attention == nullptr || !policy->ShouldUse(batch, seq)) return absl::OkStatus();
  const absl::Status prepared = attention->Prepare(batch, heads, seq, head_dim);
  if (prepared.code() == absl::StatusCode::kUnimplemented) {
    policy->MarkRefused(batch, seq);
    return absl::OkStatus();
  }
  return prepared;
}

}  // namespace evo2::cuda
