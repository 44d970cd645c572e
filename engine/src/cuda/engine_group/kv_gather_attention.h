// The attention mixer of a context-parallel rank (docs/parallelism.md §4, §7): each rank keeps
// its own rotated queries and all-gathers only the rotated keys and values over CP, a group of g
// heads at a time, so that the gather holds [g, P, d] for K and for V instead of the whole
// sequence's Wqkv rows [P, 3H/T]. Per head group and for K, then V:
//
//   send      [2, g, Lc, d]       the group's heads of the rank's K (or V) [2, heads, Lc, d]
//                                 (the K/V buffer itself when g = heads)
//   gathered  [CP, 2, g, Lc, d]   the all-gather's rank-major result
//   k, v      [g, P, d]           natural order (kernels/zigzag_gather.cuh)
//
// then each of the rank's two query chunks (its zigzag chunks r and 2CP−1−r) attends at its
// offset chunk·Lc against the whole K/V (LaunchCausalGqaAttentionAtOffset). Every head is
// independent, so the result does not depend on g; it is the same function as rotary and
// attention over the whole sequence on one GPU (rotary at absolute positions, the same kernels).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/device_communicator.h"
#include "cuda/engine_group/rank_buffers.h"
#include "parallel/sequence_split.h"

namespace evo2::cuda {

// q, k, v: [2, heads, Lc, d] T, the rank's rotated Q, K, V (its two chunks as a batch);
// scratch: layout.elements T (cp_scratch); out: [2·Lc, heads·d] T, the rank's rows.
// A collective over `cp` (2·layout.groups all-gathers).
template <typename T>
absl::Status AttendOverGatheredKv(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                                  const KvGatherLayout& layout, const T* q, const T* k, const T* v,
                                  int64_t heads, int64_t head_dim, T* scratch, T* out,
                                  cudaStream_t stream);

}  // namespace evo2::cuda
