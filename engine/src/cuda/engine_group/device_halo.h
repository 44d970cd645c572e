// The FIR halo exchange of a CUDA engine group's context-parallel ranks on the device: the rows
// halo_plan.h names, moved with one DeviceCommunicator::Exchange into the region layout there.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/device_communicator.h"
#include "cuda/engine_group/halo_plan.h"
#include "parallel/sequence_split.h"

namespace evo2::cuda {

// local: [L, row_bytes] this rank's rows (chunk after chunk, split.ChunksOf order);
// ext: [chunks of the rank, layout.region, row_bytes], written whole. A collective over `cp`.
absl::Status ExchangeHalos(const parallel::SequenceSplit& split, DeviceCommunicator& cp,
                           const void* local, int64_t row_bytes, const HaloLayout& layout,
                           void* ext, cudaStream_t stream);

}  // namespace evo2::cuda
