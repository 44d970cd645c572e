#include "cuda/communicator_stream_wait.h"

#include <chrono>
#include <thread>

#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status WaitForStream(cudaStream_t stream, std::span<DeviceCommunicator* const> comms) {
  for (int polls = 0;; ++polls) {
    const cudaError_t state = cudaStreamQuery(stream);
    if (state != cudaErrorNotReady) {
      CUDA_RETURN_IF_ERROR(state);
      for (DeviceCommunicator* c : comms) RETURN_IF_ERROR(c->Check());
      return absl::OkStatus();
    }
    for (DeviceCommunicator* c : comms) RETURN_IF_ERROR(c->Check());
    // Spin briefly (collectives of a forward are short), then poll at 0.1 ms: cheap next to
    // a layer, fine-grained enough not to add latency worth measuring.
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

}  // namespace evo2::cuda
