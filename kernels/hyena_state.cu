#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_state.cuh"

namespace evo2::kernels {
namespace {

constexpr int kModes = kHyenaLongModes;
constexpr int kLanes = 32;     // channels per block
constexpr int kSegments = 16;  // warps per block, one time segment each

template <typename T>
__global__ void RingFromRowsKernel(const T* __restrict__ rows, int64_t ld_rows, int64_t seq,
                                   int64_t width, int64_t n, T* __restrict__ ring) {
  const int64_t slot = blockIdx.y;
  // τ ≡ slot (mod n) with S−n ≤ τ < S.
  const int64_t first = seq - n;
  const int64_t tau = first + (((slot - first) % n) + n) % n;
  T* dst = ring + slot * width;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < width;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[j] = tau >= 0 ? rows[tau * ld_rows + j] : FromFloat<T>(0.f);
  }
}

template <typename T>
__global__ void __launch_bounds__(kLanes* kSegments)
    HyenaModalStateKernel(const T* __restrict__ a, int seq, int hidden,
                          const float* __restrict__ log_poles, float* __restrict__ state) {
  __shared__ float part[kSegments][kModes][kLanes];
  const int lane = threadIdx.x % kLanes, seg = threadIdx.x / kLanes;
  const int c = blockIdx.x * kLanes + lane;
  const int len = (seq + kSegments - 1) / kSegments;
  const int t0 = seg * len, t1 = min(seq, t0 + len);
  float s[kModes];
#pragma unroll
  for (int n = 0; n < kModes; ++n) s[n] = 0.f;
  if (c < hidden) {
    float p[kModes];
#pragma unroll
    for (int n = 0; n < kModes; ++n) p[n] = expf(log_poles[c * kModes + n]);
    for (int t = t0; t < t1; ++t) {
      const float x = ToFloat(a[static_cast<int64_t>(t) * hidden + c]);
#pragma unroll
      for (int n = 0; n < kModes; ++n) s[n] = fmaf(p[n], s[n], x);
    }
    if (t1 > t0) {
#pragma unroll
      for (int n = 0; n < kModes; ++n)
        s[n] *= expf(log_poles[c * kModes + n] * static_cast<float>(seq - t1));
    }
  }
#pragma unroll
  for (int n = 0; n < kModes; ++n) part[seg][n][lane] = s[n];
  __syncthreads();
  if (c >= hidden) return;
  // Warp w sums modes w (and w + 16 if there were more modes than warps) over the segments.
  for (int n = seg; n < kModes; n += kSegments) {
    float sum = 0.f;
    for (int g = 0; g < kSegments; ++g) sum += part[g][n][lane];
    state[static_cast<int64_t>(n) * hidden + c] = sum;
  }
}

}  // namespace

template <typename T>
absl::Status LaunchRingFromRows(const T* rows, int64_t ld_rows, int64_t seq, int64_t width,
                                int64_t n, T* ring, cudaStream_t stream) {
  if (rows == nullptr || ring == nullptr)
    return absl::InvalidArgumentError("ring_from_rows: null pointer");
  if (seq < 0 || width <= 0 || n <= 0 || n > 65535 || ld_rows < width)
    return absl::InvalidArgumentError(
        absl::StrCat("ring_from_rows: bad shape S=", seq, " W=", width, " n=", n, " ld=", ld_rows));
  const int threads = 256;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((width + threads - 1) / threads, 1024)),
                  static_cast<unsigned>(n));
  RingFromRowsKernel<T><<<grid, threads, 0, stream>>>(rows, ld_rows, seq, width, n, ring);
  RETURN_IF_LAUNCH_FAILED("ring_from_rows");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchHyenaModalState(const T* a, int64_t seq, int64_t hidden, const float* log_poles,
                                   float* state, cudaStream_t stream) {
  if (a == nullptr || log_poles == nullptr || state == nullptr)
    return absl::InvalidArgumentError("hyena_modal_state: null pointer");
  if (seq < 0 || seq > (int64_t{1} << 30) || hidden <= 0 || hidden > (1 << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("hyena_modal_state: bad shape S=", seq, " H=", hidden));
  HyenaModalStateKernel<T>
      <<<static_cast<unsigned>((hidden + kLanes - 1) / kLanes), kLanes * kSegments, 0, stream>>>(
          a, static_cast<int>(seq), static_cast<int>(hidden), log_poles, state);
  RETURN_IF_LAUNCH_FAILED("hyena_modal_state");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T)                                                                        \
  template absl::Status LaunchRingFromRows<T>(const T*, int64_t, int64_t, int64_t, int64_t, T*,    \
                                              cudaStream_t);                                       \
  template absl::Status LaunchHyenaModalState<T>(const T*, int64_t, int64_t, const float*, float*, \
                                                 cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
