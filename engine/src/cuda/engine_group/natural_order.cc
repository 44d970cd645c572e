#include "cuda/engine_group/natural_order.h"

#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status AllGatherNatural(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                              const void* local, int64_t row_bytes, void* gathered, void* natural,
                              cudaStream_t stream) {
  const int64_t Lc = split.chunk_tokens(), L = split.LocalRows();
  RETURN_IF_ERROR(cp.AllGather(local, gathered, L * row_bytes, stream));
  const auto* g = static_cast<const char*>(gathered);
  auto* n = static_cast<char*>(natural);
  for (int rank = 0; rank < cp.size(); ++rank) {
    const auto& chunks = split.ChunksOf(rank);
    for (size_t j = 0; j < chunks.size(); ++j) {
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          n + chunks[j] * Lc * row_bytes, g + (rank * L + static_cast<int64_t>(j) * Lc) * row_bytes,
          Lc * row_bytes, cudaMemcpyDeviceToDevice, stream));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::cuda
