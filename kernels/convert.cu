#include "kernels/convert.cuh"

#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

template <typename From, typename To>
__global__ void ConvertKernel(const From* __restrict__ in, To* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = FromFloat<To>(ToFloat(in[i]));
}

}  // namespace

template <typename From, typename To>
absl::Status LaunchConvert(const From* in, To* out, int64_t n, cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("convert: negative size");
  if (n == 0) return absl::OkStatus();
  if (in == nullptr || out == nullptr) return absl::InvalidArgumentError("convert: null pointer");
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 132 * 32));
  ConvertKernel<From, To><<<blocks, 256, 0, stream>>>(in, out, n);
  RETURN_IF_LAUNCH_FAILED("convert");
  return absl::OkStatus();
}

template absl::Status LaunchConvert<__nv_bfloat16, float>(const __nv_bfloat16*, float*, int64_t,
                                                          cudaStream_t);
template absl::Status LaunchConvert<float, __nv_bfloat16>(const float*, __nv_bfloat16*, int64_t,
                                                          cudaStream_t);
template absl::Status LaunchConvert<float, float>(const float*, float*, int64_t, cudaStream_t);

}  // namespace evo2::kernels
