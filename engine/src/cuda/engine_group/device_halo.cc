#include "cuda/engine_group/device_halo.h"

#include <vector>

#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status ExchangeHalos(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                           const void* local, int64_t row_bytes, const HaloLayout& h, void* ext,
                           cudaStream_t stream) {
  const size_t chunks = split.ChunksOf(cp.rank()).size();
  const auto* src = static_cast<const char*>(local);
  auto* dst = static_cast<char*>(ext);
  const int64_t region_bytes = h.region * row_bytes;
  // Zeros stand for the positions before 0; the rest is overwritten below.
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dst, 0, chunks * region_bytes, stream));
  for (size_t j = 0; j < chunks; ++j)
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst + j * region_bytes + (h.front + h.halo) * row_bytes,
                                         src + j * h.Lc * row_bytes, h.Lc * row_bytes,
                                         cudaMemcpyDeviceToDevice, stream));
  const HaloPlan plan = MakeHaloPlan(split, cp.rank(), h);
  std::vector<DeviceSend> sends;
  std::vector<DeviceRecv> recvs;
  for (const HaloMessage& m : plan.sends)
    sends.push_back({.peer = m.peer,
                     .tag = m.tag,
                     .data = src + m.local_row * row_bytes,
                     .bytes = m.rows * row_bytes});
  for (const HaloMessage& m : plan.recvs)
    recvs.push_back({.peer = m.peer,
                     .tag = m.tag,
                     .data = dst + m.chunk_index * region_bytes + m.region_row * row_bytes,
                     .bytes = m.rows * row_bytes});
  if (cp.size() == 1 && sends.empty() && recvs.empty()) return absl::OkStatus();
  return cp.Exchange(sends, recvs, stream);
}

}  // namespace evo2::cuda
