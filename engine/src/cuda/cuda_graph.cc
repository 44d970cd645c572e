#include "cuda/cuda_graph.h"

#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

absl::Status CudaGraphExec::Launch(cudaStream_t stream) const {
  if (exec_ == nullptr) return absl::FailedPreconditionError("CUDA graph: nothing captured");
  CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_, stream));
  return absl::OkStatus();
}

absl::StatusOr<CudaGraphExec> CaptureGraph(cudaStream_t stream,
                                           const std::function<absl::Status()>& enqueue) {
  CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status enqueued = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  if (!enqueued.ok()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // a launch refused during capture leaves its error behind
    return enqueued;
  }
  CUDA_RETURN_IF_ERROR(ended);
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_RETURN_IF_ERROR(inst);
  return CudaGraphExec(exec);
}

}  // namespace evo2::cuda
