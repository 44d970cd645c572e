#include "kernels/mlp_gate.cuh"

#include <cuda_bf16.h>

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

// One block per row: no index division, coalesced along the row.
template <typename T, bool kGelu>
__global__ void MlpGateKernel(T* __restrict__ g, int inner) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  T* row = g + static_cast<int64_t>(blockIdx.x) * 2 * inner;
  for (int i = threadIdx.x; i < inner; i += blockDim.x) {
    float a = ToFloat(row[i]);
    if (kGelu) a = Round<T>(0.5f * a * (1.f + erff(a * 0.70710678118654752f)));
    row[i] = FromFloat<T>(a * ToFloat(row[inner + i]));
  }
}

// bf16 with even I: two elements per thread through 32-bit loads (v1 was scalar, ~45 % of the
// copy bandwidth; kernels/NOTES.md).
template <bool kGelu>
__global__ void MlpGateBf16x2Kernel(__nv_bfloat16* __restrict__ g, int inner) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  __nv_bfloat162* row =
      reinterpret_cast<__nv_bfloat162*>(g + static_cast<int64_t>(blockIdx.x) * 2 * inner);
  const int pairs = inner / 2;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const float2 a = __bfloat1622float2(row[i]);
    const float2 l = __bfloat1622float2(row[pairs + i]);
    float a0 = a.x, a1 = a.y;
    if (kGelu) {
      a0 = Round<__nv_bfloat16>(0.5f * a0 * (1.f + erff(a0 * 0.70710678118654752f)));
      a1 = Round<__nv_bfloat16>(0.5f * a1 * (1.f + erff(a1 * 0.70710678118654752f)));
    }
    row[i] = __floats2bfloat162_rn(a0 * l.x, a1 * l.y);
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
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    if (inner % 2 == 0) {
      if (gelu) {
        MlpGateBf16x2Kernel<true><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
      } else {
        MlpGateBf16x2Kernel<false><<<blocks, 256, 0, stream>>>(gate_linear, static_cast<int>(inner));
      }
      RETURN_IF_LAUNCH_FAILED("mlp_gate bf16x2");
      return absl::OkStatus();
    }
  }
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
