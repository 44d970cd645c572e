#include "kernels/hyena_fir.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kChannels = 32;    // channels per block (one warp's lanes)
constexpr int kRowGroups = 4;    // warps per block
constexpr int kOutPerThread = 16;  // consecutive outputs per thread (register-blocked)
constexpr int kTime = kRowGroups * kOutPerThread;  // 64 time steps per block

// Block: 32 channels × 64 time steps. The input window a[t0-K+1 .. t0+63] and the 32 channels'
// taps are staged in shared memory as fp32, [row][channel] so that a warp's lanes (channels)
// hit distinct banks. Each thread computes 16 consecutive outputs of one channel from a
// register window that slides by one sample per tap: one shared load of `a` and one of `h` per
// 16 FMAs (v1 loaded `a` once per FMA and was shared-memory bound, kernels/NOTES.md).
template <typename T, int K>
__global__ void __launch_bounds__(kChannels* kRowGroups)
    HyenaFirGateKernel(const T* __restrict__ q, const T* __restrict__ a,
                       const float* __restrict__ taps, const float* __restrict__ skip_d,
                       T* __restrict__ o, int seq, int hidden, int channels_per_group,
                       int time_tiles) {
  __shared__ float a_s[kTime + K - 1][kChannels];
  __shared__ float h_s[K][kChannels];
  const int lane = threadIdx.x % kChannels;
  const int row_group = threadIdx.x / kChannels;
  const int b = blockIdx.x / time_tiles;
  const int t0 = (blockIdx.x - b * time_tiles) * kTime;
  const int c = blockIdx.y * kChannels + lane;
  const bool channel_ok = c < hidden;
  const int64_t base = static_cast<int64_t>(b) * seq * hidden;

  const int g = channel_ok ? c / channels_per_group : 0;
  for (int k = row_group; k < K; k += kRowGroups) h_s[k][lane] = channel_ok ? taps[g * K + k] : 0.f;
  for (int r = row_group; r < kTime + K - 1; r += kRowGroups) {
    const int t = t0 - (K - 1) + r;
    a_s[r][lane] = (channel_ok && t >= 0 && t < seq)
                       ? ToFloat(a[base + static_cast<int64_t>(t) * hidden + c])
                       : 0.f;
  }
  __syncthreads();
  if (!channel_ok) return;

  const int local0 = row_group * kOutPerThread;  // first output row of this thread in the tile
  // win[j] = a[t_j - k] for the current tap k, t_j = local0 + j (rows offset by K-1 in a_s).
  float win[kOutPerThread], acc[kOutPerThread];
#pragma unroll
  for (int j = 0; j < kOutPerThread; ++j) {
    win[j] = a_s[local0 + j + K - 1][lane];
    acc[j] = 0.f;
  }
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const float hk = h_s[k][lane];
#pragma unroll
    for (int j = 0; j < kOutPerThread; ++j) acc[j] = fmaf(hk, win[j], acc[j]);
    if (k + 1 < K) {
#pragma unroll
      for (int j = kOutPerThread - 1; j > 0; --j) win[j] = win[j - 1];
      win[0] = a_s[local0 + K - 2 - k][lane];
    }
  }
  const float d = skip_d != nullptr ? skip_d[c] : 0.f;
#pragma unroll
  for (int j = 0; j < kOutPerThread; ++j) {
    const int t = t0 + local0 + j;
    if (t >= seq) break;
    const float y = acc[j] + d * a_s[local0 + j + K - 1][lane];
    const int64_t idx = base + static_cast<int64_t>(t) * hidden + c;
    o[idx] = FromFloat<T>(ToFloat(q[idx]) * Round<T>(y));
  }
}

}  // namespace

template <typename T>
absl::Status LaunchHyenaFirGate(const T* q, const T* a, const float* taps, const float* skip_d,
                                T* o, int64_t batch, int64_t seq, int64_t hidden, int64_t groups,
                                int64_t taps_per_filter, cudaStream_t stream) {
  if (q == nullptr || a == nullptr || taps == nullptr || o == nullptr)
    return absl::InvalidArgumentError("hyena_fir: null pointer");
  if (batch < 0 || seq < 0 || hidden <= 0 || groups <= 0 || hidden % groups != 0 ||
      seq > (1 << 30) || hidden > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat("hyena_fir: bad shape B=", batch, " S=", seq,
                                                   " H=", hidden, " G=", groups,
                                                   " (H must be a multiple of G)"));
  if (batch == 0 || seq == 0) return absl::OkStatus();
  const int64_t time_tiles = (seq + kTime - 1) / kTime;
  if (batch * time_tiles > INT32_MAX)
    return absl::InvalidArgumentError("hyena_fir: batch × length too large");
  const dim3 grid(static_cast<unsigned>(batch * time_tiles),
                  static_cast<unsigned>((hidden + kChannels - 1) / kChannels));
  const int cpg = static_cast<int>(hidden / groups);
  switch (taps_per_filter) {
    case 7:
      HyenaFirGateKernel<T, 7><<<grid, kChannels * kRowGroups, 0, stream>>>(
          q, a, taps, skip_d, o, static_cast<int>(seq), static_cast<int>(hidden), cpg,
          static_cast<int>(time_tiles));
      break;
    case 128:
      HyenaFirGateKernel<T, 128><<<grid, kChannels * kRowGroups, 0, stream>>>(
          q, a, taps, skip_d, o, static_cast<int>(seq), static_cast<int>(hidden), cpg,
          static_cast<int>(time_tiles));
      break;
    default:
      return absl::UnimplementedError(absl::StrCat(
          "hyena_fir: filters of ", taps_per_filter, " taps are not compiled (only 7 and 128)"));
  }
  RETURN_IF_LAUNCH_FAILED("hyena_fir");
  return absl::OkStatus();
}

template absl::Status LaunchHyenaFirGate<float>(const float*, const float*, const float*,
                                                const float*, float*, int64_t, int64_t, int64_t,
                                                int64_t, int64_t, cudaStream_t);
template absl::Status LaunchHyenaFirGate<__nv_bfloat16>(const __nv_bfloat16*,
                                                        const __nv_bfloat16*, const float*,
                                                        const float*, __nv_bfloat16*, int64_t,
                                                        int64_t, int64_t, int64_t, int64_t,
                                                        cudaStream_t);

}  // namespace evo2::kernels
