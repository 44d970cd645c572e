// One CTA per SM, launched cooperatively: every CTA is resident at once, so the kernel may wait
// at grid-wide barriers (bulk_copy.cuh GridArriveAndWait) without deadlock. The persistent
// weight-streaming kernels (decode_program.cu, weight_stream_probe.cu) launch this way.
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "kernels/cuda_status.cuh"

namespace evo2::kernels {

// The current device's SM count (the grid of such a launch); 0 when there is no device.
inline int DeviceSmCount() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    return 0;
  return sms;
}

// Launches kernel<<<DeviceSmCount(), threads, smem_bytes, stream>>>(args...) cooperatively.
template <typename... Params, typename... Args>
absl::Status LaunchOnePerSm(void (*kernel)(Params...), int threads, int smem_bytes,
                            cudaStream_t stream, Args&&... args) {
  const int grid = DeviceSmCount();
  if (grid <= 0) return absl::InternalError("cooperative launch: no device");
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(grid));
  config.blockDim = dim3(static_cast<unsigned>(threads));
  config.dynamicSmemBytes = static_cast<size_t>(smem_bytes);
  config.stream = stream;
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  config.attrs = &cooperative;
  config.numAttrs = 1;
  CUDA_RETURN_IF_ERROR(cudaLaunchKernelEx(&config, kernel, static_cast<Args&&>(args)...));
  return absl::OkStatus();
}

}  // namespace evo2::kernels
