#include "cuda/engine_group/kv_gather_attention.h"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/zigzag_gather.cuh"

namespace evo2::cuda {

template <typename T>
absl::Status AttendOverGatheredKv(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                                  const KvGatherLayout& layout, const T* q, const T* k, const T* v,
                                  int64_t heads, int64_t head_dim, T* scratch, T* out,
                                  cudaStream_t stream) {
  const int64_t g = layout.g, d = head_dim, Lc = split.chunk_tokens();
  const int64_t P = split.padded_tokens(), Hl = heads * d;
  if (split.chunks_per_rank() != 2 || g <= 0 || heads % g != 0)
    return absl::InternalError(absl::StrCat("K/V gather of ", g, " heads out of ", heads, " with ",
                                            split.chunks_per_rank(), " chunks per rank"));
  const std::vector<int>& chunks = split.ChunksOf(cp.rank());
  const bool split_heads = g < heads;
  T* gathered = scratch + layout.gathered;  // [CP, 2, g, Lc, d]
  T* send = scratch + layout.send;          // [2, g, Lc, d] (g < heads)
  T* chunk_out = scratch + layout.out;      // [Lc, g·d] (g < heads)
  for (int64_t h0 = 0; h0 < heads; h0 += g) {
    // K then V of heads h0 … h0+g−1 for the whole sequence, natural order.
    for (const auto& [mine, natural] :
         {std::pair{k, scratch + layout.k}, {v, scratch + layout.v}}) {
      const T* src = mine;
      if (split_heads) {  // the group's heads of both chunks: 2 rows of g·Lc·d, pitch heads·Lc·d
        CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(send, g * Lc * d * sizeof(T), mine + h0 * Lc * d,
                                               heads * Lc * d * sizeof(T), g * Lc * d * sizeof(T),
                                               2, cudaMemcpyDeviceToDevice, stream));
        src = send;
      }
      RETURN_IF_ERROR(cp.AllGather(src, gathered, 2 * g * Lc * d * sizeof(T), stream));
      RETURN_IF_ERROR(
          kernels::LaunchZigzagToNatural<T>(gathered, natural, cp.size(), g, Lc, d, stream));
    }
    for (int j = 0; j < 2; ++j) {
      const int64_t first = chunks[static_cast<size_t>(j)] * Lc;
      const T* q_j = q + (j * heads + h0) * Lc * d;  // [g, Lc, d]
      T* out_j = out + j * Lc * Hl;                  // [Lc, heads·d]
      RETURN_IF_ERROR(kernels::LaunchCausalGqaAttentionAtOffset<T>(
          q_j, scratch + layout.k, scratch + layout.v, split_heads ? chunk_out : out_j, 1, g, g, Lc,
          P, first, d, stream));
      if (split_heads)  // [Lc, g·d] into columns h0·d … of [Lc, heads·d]
        CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(out_j + h0 * d, Hl * sizeof(T), chunk_out,
                                               g * d * sizeof(T), g * d * sizeof(T), Lc,
                                               cudaMemcpyDeviceToDevice, stream));
    }
  }
  return absl::OkStatus();
}

template absl::Status AttendOverGatheredKv<float>(const parallel::SequenceSplit&,
                                                  DeviceCommunicator&, const KvGatherLayout&,
                                                  const float*, const float*, const float*, int64_t,
                                                  int64_t, float*, float*, cudaStream_t);
template absl::Status AttendOverGatheredKv<__nv_bfloat16>(
    const parallel::SequenceSplit&, DeviceCommunicator&, const KvGatherLayout&,
    const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, int64_t, int64_t,
    __nv_bfloat16*, __nv_bfloat16*, cudaStream_t);

}  // namespace evo2::cuda
