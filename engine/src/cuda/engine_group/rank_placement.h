// Where the ranks of a CUDA engine group run (docs/parallelism.md §7). Host logic only (no CUDA),
// so it is tested without a GPU.
//   - at least TP·CP·DP GPUs: rank i (replica-major, i = replica·TP·CP + tp_rank + TP·cp_rank) on
//     GPU i, the ranks talking over NCCL;
//   - otherwise, with EVO2_CUDA_GROUP=one-gpu: every rank on GPU 0, talking through the
//     in-process device communicator — slower than one GPU alone, but it proves the decomposition
//     on a single card;
//   - otherwise a FAILED_PRECONDITION that says both.
// EVO2_CUDA_GROUP=one-gpu also forces the single-GPU placement where there are enough GPUs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "parallel/group_layout.h"

namespace evo2::cuda {

struct GroupPlacement {
  bool one_gpu = false;          // every rank on GPU 0, in-process communicators
  std::vector<int> device;       // [DP·TP·CP] the GPU of each rank, replica-major
  std::string ToString() const;  // "4 ranks on GPU 0 (in-process)" / "4 ranks on GPUs 0-3 (NCCL)"
};

// `group_env`: the value of EVO2_CUDA_GROUP (nullopt when unset).
absl::StatusOr<GroupPlacement> PlaceGroup(const parallel::GroupLayout& layout, int gpus,
                                          std::optional<std::string_view> group_env);

}  // namespace evo2::cuda
