// What an engine group tells evo2/record_capacity.h, from the ranks' own workspace plan
// (rank_buffers.h: PlanRankWorkspace is what RankBuffers::Ensure allocates), so a worker hosting
// a group advertises the longest record its GPUs hold. Per GPU, because a record fails when any
// one GPU runs out: the need is the buffers of every rank placed on the busiest GPU (one rank per
// GPU normally, all of them with one-GPU placement), the budget the least free memory of the
// group's GPUs. Not in the plan, as for one GPU (cuda_model_capacity.cc): the communicators' own
// buffers, fixed at load and already out of the free memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <map>

#include "cuda/engine_group/cuda_engine_group_model.h"

namespace evo2::cuda {

std::optional<int64_t> CudaEngineGroupModel::ForwardWorkingBytes(
    int64_t tokens, const ForwardOptions& options) const {
  if (replicas_.empty() || replicas_[0].ranks.empty() || tokens < 1) return std::nullopt;
  const parallel::SequenceSplit split(tokens, layout_.cp);
  // Every rank of a record has the same local shape (the zigzag split pads to equal chunks).
  size_t per_rank =
      PlanRankWorkspace(replicas_[0].ranks[0]->ShapeFor(config_, split, layout_.tp)).device_bytes();
  // Returned activations pass through an fp32 [L, H] staging buffer on the TP-rank-0 ranks
  // (cuda_rank.cc); counted on every rank, so a TP group is over-counted by it, never under.
  if (!options.hidden_after_blocks.empty() || !options.layers.empty())
    per_rank += static_cast<size_t>(split.LocalRows() * config_.hidden_size) * sizeof(float);
  std::map<int, size_t> ranks_on;
  for (const Replica& replica : replicas_)
    for (const auto& rank : replica.ranks) ++ranks_on[rank->device()];
  size_t busiest = 0;
  for (const auto& [device, count] : ranks_on) busiest = std::max(busiest, count);
  return static_cast<int64_t>(busiest * per_rank);
}

std::optional<int64_t> CudaEngineGroupModel::FreeWorkingMemoryBytes() const {
  std::map<int, size_t> held_on;  // buffers a larger record would replace, per device
  for (const Replica& replica : replicas_)
    for (const auto& rank : replica.ranks) held_on[rank->device()] += rank->buffer_bytes();
  if (held_on.empty()) return std::nullopt;
  int current = 0;
  if (cudaGetDevice(&current) != cudaSuccess) {
    (void)cudaGetLastError();
    return std::nullopt;
  }
  std::optional<int64_t> least;
  for (const auto& [device, held] : held_on) {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(device) != cudaSuccess ||
        cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      (void)cudaGetLastError();  // a failed query must not surface as the next call's error
      least.reset();
      break;
    }
    const int64_t available = static_cast<int64_t>(free_bytes + held);
    least = least.has_value() ? std::min(*least, available) : available;
  }
  if (cudaSetDevice(current) != cudaSuccess) (void)cudaGetLastError();
  return least;
}

}  // namespace evo2::cuda
