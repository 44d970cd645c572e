#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/log_sum_exp_gather.cuh"
#include "kernels/warp_row_log_sum_exp.cuh"

namespace evo2::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;

// One warp per row.
__global__ void LogSumExpGatherKernel(const float* __restrict__ logits,
                                      const int32_t* __restrict__ targets,
                                      float* __restrict__ lse_picked, int64_t rows, int vocab) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* x = logits + row * vocab;
  const WarpRowMaxSum row_sum = WarpRowMaxAndSumExp(x, vocab, lane);
  if (lane == 0) {
    const int target = targets[row];
    lse_picked[2 * row] = row_sum.max + logf(row_sum.sum_exp);
    lse_picked[2 * row + 1] = (target < 0 || target >= vocab) ? 0.f : x[target];
  }
}

}  // namespace

absl::Status LaunchLogSumExpGather(const float* logits, const int32_t* targets, float* lse_picked,
                                   int64_t rows, int64_t vocab, cudaStream_t stream) {
  if (logits == nullptr || targets == nullptr || lse_picked == nullptr)
    return absl::InvalidArgumentError("log_sum_exp_gather: null pointer");
  if (rows < 0 || vocab <= 0 || vocab > (1 << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("log_sum_exp_gather: bad shape rows=", rows, " vocab=", vocab));
  if (rows == 0) return absl::OkStatus();
  const int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  LogSumExpGatherKernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, stream>>>(
      logits, targets, lse_picked, rows, static_cast<int>(vocab));
  RETURN_IF_LAUNCH_FAILED("log_sum_exp_gather");
  return absl::OkStatus();
}

}  // namespace evo2::kernels
