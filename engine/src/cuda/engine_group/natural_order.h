// Rows of a context-parallel group in natural order (docs/parallelism.md §2): rank c holds the
// zigzag chunks split.ChunksOf(c) (chunk r and 2CP−1−r) as its local rows. The attention mixer
// gathers every rank's Wqkv rows into the whole padded sequence [P, row] (the all-gather form of
// context parallelism, docs/parallelism.md §4).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/device_communicator.h"
#include "parallel/sequence_split.h"

namespace evo2::cuda {

// natural [P, row_bytes] ← every CP rank's local [L, row_bytes], via `gathered` [P, row_bytes]
// scratch (the all-gather's rank-major result). A collective over `cp`.
absl::Status AllGatherNatural(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                              const void* local, int64_t row_bytes, void* gathered, void* natural,
                              cudaStream_t stream);

}  // namespace evo2::cuda
