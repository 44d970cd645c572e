// Waiting for a rank's stream without risking a hang. A collective whose peer never joins (a
// crashed rank, a mismatched call under NCCL) leaves a kernel spinning on the stream forever,
// so cudaStreamSynchronize would never return. WaitForStream polls the stream and, meanwhile,
// the communicators' Check(): an abort, an NCCL asynchronous error or a collective pending past
// the group's timeout aborts the NCCL communicators (whose kernels then exit) and returns the
// error (cuda/device_communicator.h, "never a hang").
#pragma once

#include <cuda_runtime.h>

#include <span>

#include "absl/status/status.h"
#include "cuda/device_communicator.h"

namespace evo2::cuda {

// OK once every piece of work enqueued on `stream` has finished and no communicator reports a
// failure; else the first error (a CUDA error of the stream, or a communicator's failure).
absl::Status WaitForStream(cudaStream_t stream, std::span<DeviceCommunicator* const> comms);

}  // namespace evo2::cuda
