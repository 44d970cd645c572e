#include "kernels/mlp_gate.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

// One block per row: no index division, coalesced along the row.
template <typename T, bool kGelu>
__global__ void MlpGateKernel(T* __restrict__ g, int inner) {
  T* row = g + static_cast<int64_t>(blockIdx.x) * 2 * inner;
  for (int i = threadIdx.x; i < inner; i += blockDim.x) {
    float a = ToFloat(row[i]);
    if (kGelu) a = Round<T>(0.5f * a * (1.f + erff(a * 0.70710678118654752f)));
    row[i] = FromFloat<T>(a * ToFloat(row[inner + i]));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchMlpGate(T* gate_linear, int64_t rows, int64_t inner, bool gelu,
                           cudaStream_t stream) {
  if (gate_linear == nullptr) return absl::InvalidArgumentError("mlp_gate: null pointer");
  if (rows < 0 || inner <= 0)
    return absl::InvalidArgumentError(absl::StrCat("mlp_gate: bad shape rows=", rows, " I=", inner));
  if (rows == 0) return absl::OkStatus();
  if (rows > INT32_MAX || inner > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("mlp_gate: too large rows=", rows, " I=", inner));
  const unsigned blocks = static_cast<unsigned>(rows);
  if (gelu) {
    MlpGateKernel<T, true><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
  } else {
    MlpGateKernel<T, false><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
  }
  RETURN_IF_LAUNCH_FAILED("mlp_gate");
  return absl::OkStatus();
}

template absl::Status LaunchMlpGate<float>(float*, int64_t, int64_t, bool, cudaStream_t);
template absl::Status LaunchMlpGate<__nv_bfloat16>(__nv_bfloat16*, int64_t, int64_t, bool,
                                                   cudaStream_t);

}  // namespace evo2::kernels
