#include "cuda/head_last_rows.h"

#include <algorithm>

#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status HeadOnLastRows(GemmRunner& gemm, DType act, const void* normed, int64_t batch,
                            int64_t seq, int64_t hidden, const void* head, int64_t vocab,
                            float* logits, float* logits_host, cudaStream_t stream) {
  const size_t elem = act == DType::kFloat32 ? 4 : 2;
  for (int64_t b0 = 0; b0 < batch; b0 += kHeadChunkRows) {
    const int64_t rows = std::min(kHeadChunkRows, batch - b0);
    const auto* first = static_cast<const char*>(normed) +
                        static_cast<size_t>(((b0 + 1) * seq - 1) * hidden) * elem;
    RETURN_IF_ERROR(gemm.Run(act, DType::kFloat32,
                             {.x = first,
                              // One row needs no stride (and seq·hidden may not fit cuBLAS's int).
                              .ldx = rows == 1 ? hidden : seq * hidden,
                              .w = head,
                              .y = logits,
                              .ldy = vocab,
                              .rows = rows,
                              .in = hidden,
                              .out = vocab}));
    if (logits_host != nullptr) {
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits_host + b0 * vocab, logits,
                                           rows * vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                           stream));
      CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::cuda
