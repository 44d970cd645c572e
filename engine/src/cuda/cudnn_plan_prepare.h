// Reserve-time half of a model's cuDNN attention (every cuda-backend family that has attention
// layers): build the plan for a pass's shape where the policy picks cuDNN for it. Plan building
// takes milliseconds to seconds (cudnn_attention.h): in Reserve, not inside a forward. The
// forward then uses cuDNN only where a plan exists (CudnnAttention::FindPlan).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_plan_policy.h"

namespace evo2::cuda {

// No-op when `attention` is null (cuDNN not in use; `policy` is then null too). Asks `policy`
// whether this pass of (batch, seq) should use cuDNN; if so prepares the plan of (batch, heads,
// seq, head_dim). A shape cuDNN has no engine for (Unimplemented) is marked refused in `policy` and
// runs on the own kernel; any other error is returned.
absl::Status PrepareCudnnPlanIfPicked(CudnnAttention* attention, CudnnPlanPolicy* policy,
                                      int64_t batch, int64_t heads, int64_t seq, int64_t head_dim);

}  // namespace evo2::cuda
