#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/swiglu.cuh"

namespace evo2::kernels {
namespace {

// One block per row (no index division, coalesced along the row).
template <typename T>
__global__ void SwiGluKernel(T* __restrict__ g, int inner) {
  T* row = g + static_cast<int64_t>(blockIdx.x) * 2 * inner;
  for (int i = threadIdx.x; i < inner; i += blockDim.x) {
    const float a = ToFloat(row[i]);
    const float act = Round<T>(a / (1.f + expf(-a)));
    row[i] = FromFloat<T>(act * ToFloat(row[inner + i]));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchSwiGlu(T* gate_up, int64_t rows, int64_t inner, cudaStream_t stream) {
  if (gate_up == nullptr) return absl::InvalidArgumentError("swiglu: null pointer");
  if (rows < 0 || inner <= 0 || rows > INT32_MAX || inner > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("swiglu: bad shape rows=", rows, " F=", inner));
  if (rows == 0) return absl::OkStatus();
  SwiGluKernel<T>
      <<<static_cast<unsigned>(rows), 256, 0, stream>>>(gate_up, static_cast<int>(inner));
  RETURN_IF_LAUNCH_FAILED("swiglu");
  return absl::OkStatus();
}

template absl::Status LaunchSwiGlu<float>(float*, int64_t, int64_t, cudaStream_t);
template absl::Status LaunchSwiGlu<__nv_bfloat16>(__nv_bfloat16*, int64_t, int64_t, cudaStream_t);

}  // namespace evo2::kernels
