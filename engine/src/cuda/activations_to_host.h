// Copies an activation array on the device (act-typed or fp32) into a host fp32 array, through
// an fp32 staging buffer, and waits for it: hidden states leave the GPU as fp32.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

// src: [n] T (device); dst: [n] fp32 (host).
template <typename T>
absl::Status CopyActivationsToHost(const T* src, int64_t n, float* dst, cudaStream_t stream) {
  ASSIGN_OR_RETURN(auto staging,
                   kernels::DeviceBuffer::Allocate(static_cast<size_t>(n) * sizeof(float)));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(src, staging.as<float>(), n, stream));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, staging.get(), n * sizeof(float), cudaMemcpyDeviceToHost, stream));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
