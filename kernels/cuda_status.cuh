// CUDA error handling shared by every launcher: errors are values (absl::Status), never exits.
//
//   CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(...));   // returns INTERNAL "file:line: expr: message"
//   RETURN_IF_LAUNCH_FAILED("rms_norm");          // checks cudaGetLastError() after a launch
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"  // RETURN_IF_ERROR / ASSIGN_OR_RETURN for launchers

namespace evo2::kernels {

inline absl::Status CudaStatus(cudaError_t err, const char* expr, const char* file, int line) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat(file, ":", line, ": ", expr, ": ", cudaGetErrorName(err),
                                           " (", cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

}  // namespace evo2::kernels

#define CUDA_RETURN_IF_ERROR(expr)                                                         \
  do {                                                                                     \
    const cudaError_t evo2_cuda_err_ = (expr);                                             \
    if (evo2_cuda_err_ != cudaSuccess)                                                     \
      return ::evo2::kernels::CudaStatus(evo2_cuda_err_, #expr, __FILE__, __LINE__);       \
  } while (0)

// After a kernel launch: launch-configuration errors surface through cudaGetLastError().
#define RETURN_IF_LAUNCH_FAILED(op_name)                                                           \
  do {                                                                                             \
    const cudaError_t evo2_launch_err_ = cudaGetLastError();                                       \
    if (evo2_launch_err_ != cudaSuccess)                                                           \
      return ::evo2::kernels::CudaStatus(evo2_launch_err_, "launch " op_name, __FILE__, __LINE__); \
  } while (0)
