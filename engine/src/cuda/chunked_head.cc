// The shared output head (chunked_head.h). The sequence of GEMMs, kernels, copies and
// synchronisations is the one each family's forward ran inline before.
#include "cuda/chunked_head.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cuda/head_last_rows.h"
#include "cuda/stage_timer.h"
#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/log_softmax_gather.cuh"

namespace evo2::cuda {

absl::Status RunChunkedHead(const ChunkedHeadOperands& head, const RunRequest& r, GemmRunner& gemm,
                            cudaStream_t stream) {
  const int64_t B = head.batch, S = head.seq, R = B * S, H = head.hidden, V = head.vocab;
  // z's rows are addressed in bytes: the head is the same for fp32 and bf16 activations.
  const auto* z = static_cast<const char*>(head.z);
  const int64_t row_bytes = H * static_cast<int64_t>(DTypeSize(head.operand));
  float* logits = head.logits;

  if (r.head_last_rows_only) {
    // The decoder's prefill: row S−1 of every sequence only.
    if (r.logits_host == nullptr)
      return absl::InvalidArgumentError("head_last_rows_only: needs logits_host");
    return HeadOnLastRows(gemm, head.operand, head.z, B, S, H, head.weight, V, logits,
                          r.logits_host, stream);
  }
  const bool want_lp = r.targets_host != nullptr || r.tokens_on_device;
  if (want_lp || r.logits_host != nullptr) {
    for (int64_t row0 = 0; row0 < R; row0 += kHeadChunkRows) {
      const int64_t rows = std::min(kHeadChunkRows, R - row0);
      RETURN_IF_ERROR(gemm.Run(head.operand, DType::kFloat32,
                               {.x = z + row0 * row_bytes,
                                .ldx = H,
                                .w = head.weight,
                                .y = logits,
                                .ldy = V,
                                .rows = rows,
                                .in = H,
                                .out = V}));
      if (want_lp)
        RETURN_IF_ERROR(kernels::LaunchLogSoftmaxGather(logits, head.targets + row0,
                                                        head.log_probs + row0, rows, V, stream));
      if (r.timer != nullptr) r.timer->Mark(stream, "head_logsoftmax");
      if (r.logits_host != nullptr) {
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(r.logits_host + row0 * V, logits,
                                             rows * V * sizeof(float), cudaMemcpyDeviceToHost,
                                             stream));
        CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
      }
    }
  }
  if (r.log_probs_host != nullptr) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(r.log_probs_host, head.log_probs, R * sizeof(float),
                                         cudaMemcpyDeviceToHost, stream));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  }
  return absl::OkStatus();
}

}  // namespace evo2::cuda
