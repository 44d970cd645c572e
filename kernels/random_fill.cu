#include "kernels/random_fill.cuh"

#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

// splitmix64 finaliser: a good 64-bit mix of the counter.
__device__ __forceinline__ uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void FillUniformKernel(T* __restrict__ data, int64_t n, float lo, float hi,
                                  uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t r = Mix(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(r >> 40) * (1.f / 16777216.f);  // 24 bits in [0, 1)
    data[i] = FromFloat<T>(lo + (hi - lo) * u);
  }
}

}  // namespace

template <typename T>
absl::Status LaunchFillUniform(T* data, int64_t n, float lo, float hi, uint64_t seed,
                               cudaStream_t stream) {
  if (n < 0 || !(hi >= lo)) return absl::InvalidArgumentError("fill_uniform: bad arguments");
  if (n == 0) return absl::OkStatus();
  if (data == nullptr) return absl::InvalidArgumentError("fill_uniform: null pointer");
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 132 * 64));
  FillUniformKernel<T><<<blocks, 256, 0, stream>>>(data, n, lo, hi, seed);
  RETURN_IF_LAUNCH_FAILED("fill_uniform");
  return absl::OkStatus();
}

template absl::Status LaunchFillUniform<float>(float*, int64_t, float, float, uint64_t,
                                               cudaStream_t);
template absl::Status LaunchFillUniform<__nv_bfloat16>(__nv_bfloat16*, int64_t, float, float,
                                                       uint64_t, cudaStream_t);

}  // namespace evo2::kernels
