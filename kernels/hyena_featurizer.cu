#include "kernels/hyena_featurizer.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 128;    // channels per block
constexpr int kStepsPerThread = 8;  // consecutive time steps per thread (taps reused in registers)

template <typename T>
__global__ void __launch_bounds__(kThreads)
    HyenaFeaturizerKernel(const T* __restrict__ proj, const float* __restrict__ taps,
                          T* __restrict__ q, T* __restrict__ a, int seq, int hidden,
                          int segments) {
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= hidden) return;
  const int b = blockIdx.x / segments;
  const int t0 = (blockIdx.x - b * segments) * kStepsPerThread;
  const int64_t width = 3 * static_cast<int64_t>(hidden);
  const T* p = proj + static_cast<int64_t>(b) * seq * width + 3 * static_cast<int64_t>(c);
  float w[3][3];
  float prev2[3], prev1[3];
#pragma unroll
  for (int r = 0; r < 3; ++r) {
#pragma unroll
    for (int k = 0; k < 3; ++k) w[r][k] = taps[(3 * c + r) * 3 + k];
    prev2[r] = t0 >= 2 ? ToFloat(p[(t0 - 2) * width + r]) : 0.f;
    prev1[r] = t0 >= 1 ? ToFloat(p[(t0 - 1) * width + r]) : 0.f;
  }
  const int64_t out_base = static_cast<int64_t>(b) * seq * hidden + c;
#pragma unroll
  for (int s = 0; s < kStepsPerThread; ++s) {
    const int t = t0 + s;
    if (t >= seq) break;
    float f[3];
#pragma unroll
    for (int r = 0; r < 3; ++r) {
      const float cur = ToFloat(p[t * width + r]);
      f[r] = w[r][0] * prev2[r] + w[r][1] * prev1[r] + w[r][2] * cur;
      prev2[r] = prev1[r];
      prev1[r] = cur;
    }
    q[out_base + static_cast<int64_t>(t) * hidden] = FromFloat<T>(f[0]);
    a[out_base + static_cast<int64_t>(t) * hidden] = FromFloat<T>(Round<T>(f[1]) * Round<T>(f[2]));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchHyenaFeaturizer(const T* proj, const float* taps, T* q, T* a, int64_t batch,
                                   int64_t seq, int64_t hidden, cudaStream_t stream) {
  if (proj == nullptr || taps == nullptr || q == nullptr || a == nullptr)
    return absl::InvalidArgumentError("hyena_featurizer: null pointer");
  if (batch < 0 || seq < 0 || hidden <= 0 || hidden > (1 << 20) || seq > (1 << 30))
    return absl::InvalidArgumentError(absl::StrCat("hyena_featurizer: bad shape B=", batch,
                                                   " S=", seq, " H=", hidden));
  if (batch == 0 || seq == 0) return absl::OkStatus();
  const int64_t segments = (seq + kStepsPerThread - 1) / kStepsPerThread;
  if (batch * segments > INT32_MAX)
    return absl::InvalidArgumentError("hyena_featurizer: batch × length too large");
  const dim3 grid(static_cast<unsigned>(batch * segments),
                  static_cast<unsigned>((hidden + kThreads - 1) / kThreads));
  HyenaFeaturizerKernel<T><<<grid, kThreads, 0, stream>>>(
      proj, taps, q, a, static_cast<int>(seq), static_cast<int>(hidden),
      static_cast<int>(segments));
  RETURN_IF_LAUNCH_FAILED("hyena_featurizer");
  return absl::OkStatus();
}

template absl::Status LaunchHyenaFeaturizer<float>(const float*, const float*, float*, float*,
                                                   int64_t, int64_t, int64_t, cudaStream_t);
template absl::Status LaunchHyenaFeaturizer<__nv_bfloat16>(const __nv_bfloat16*, const float*,
                                                           __nv_bfloat16*, __nv_bfloat16*, int64_t,
                                                           int64_t, int64_t, cudaStream_t);

}  // namespace evo2::kernels
