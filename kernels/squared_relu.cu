#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/squared_relu.cuh"

namespace evo2::kernels {
namespace {

template <typename T>
__global__ void SquaredReluKernel(T* __restrict__ v, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float r = fmaxf(ToFloat(v[i]), 0.f);
    v[i] = FromFloat<T>(r * r);
  }
}

}  // namespace

template <typename T>
absl::Status LaunchSquaredRelu(T* v, int64_t n, cudaStream_t stream) {
  if (v == nullptr) return absl::InvalidArgumentError("squared_relu: null pointer");
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("squared_relu: n=", n));
  if (n == 0) return absl::OkStatus();
  const int64_t blocks = (n + 255) / 256;
  SquaredReluKernel<T>
      <<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(v, n);
  RETURN_IF_LAUNCH_FAILED("squared_relu");
  return absl::OkStatus();
}

template absl::Status LaunchSquaredRelu<float>(float*, int64_t, cudaStream_t);
template absl::Status LaunchSquaredRelu<__nv_bfloat16>(__nv_bfloat16*, int64_t, cudaStream_t);

}  // namespace evo2::kernels
