#include "kernels/hyena_fir.cuh"

#include <cuda_bf16.h>

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/hyena_fir_mma.cuh"

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

// bf16 version (v3, kernels/NOTES.md): v2 was bound by its staging, not its FMAs — 2-byte
// loads issued one after another per thread, 3× over-read of the window. Here a block is 64
// channels × 128 time steps, 8 warps; the window is staged with 16-byte loads all issued before
// the first shared store, and kept as bf16 (the FMA loop converts; one 4-byte shared load serves
// a lane's two channels for 32 FMAs). Lane l owns channels 2l, 2l+1; warp w owns 16 consecutive
// outputs. The FMA order over k is the one v2 uses, so both give the same bits.
constexpr int kPairChannels = 64;
constexpr int kPairWarps = 8;
constexpr int kPairOut = 16;
constexpr int kPairTime = kPairWarps * kPairOut;  // 128

template <int K>
constexpr size_t PairFirSmemBytes() {
  return static_cast<size_t>(kPairTime + K - 1) * kPairChannels * sizeof(__nv_bfloat16) +
         static_cast<size_t>(K) * kPairChannels * sizeof(float);
}

template <int K>
__global__ void __launch_bounds__(32 * kPairWarps)
    HyenaFirGatePairKernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ a,
                           const float* __restrict__ taps, const float* __restrict__ skip_d,
                           __nv_bfloat16* __restrict__ o, int seq, int hidden,
                           int channels_per_group, int time_tiles) {
  constexpr int kRows = kPairTime + K - 1;
  constexpr int kChunksPerRow = kPairChannels / 8;                // 16-byte chunks
  constexpr int kThreads = 32 * kPairWarps;
  constexpr int kLoads = (kRows * kChunksPerRow + kThreads - 1) / kThreads;
  extern __shared__ __align__(16) unsigned char smem[];
  auto* a_s = reinterpret_cast<__nv_bfloat16(*)[kPairChannels]>(smem);  // [kRows][64]
  auto* h_s = reinterpret_cast<float2(*)[kPairChannels / 2]>(
      smem + static_cast<size_t>(kRows) * kPairChannels * sizeof(__nv_bfloat16));  // [K][32]

  const int b = blockIdx.x / time_tiles;
  const int t0 = (blockIdx.x - b * time_tiles) * kPairTime;
  const int c_block = blockIdx.y * kPairChannels;
  const int64_t base = static_cast<int64_t>(b) * seq * hidden;

  uint4 staged[kLoads];
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    const int chunk = threadIdx.x + i * kThreads;
    const int row = chunk / kChunksPerRow, c = c_block + (chunk % kChunksPerRow) * 8;
    const int t = t0 - (K - 1) + row;
    staged[i] = make_uint4(0, 0, 0, 0);
    if (row < kRows && t >= 0 && t < seq && c < hidden)
      staged[i] = *reinterpret_cast<const uint4*>(a + base + static_cast<int64_t>(t) * hidden + c);
  }
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    const int chunk = threadIdx.x + i * kThreads;
    const int row = chunk / kChunksPerRow;
    if (row < kRows)
      *reinterpret_cast<uint4*>(&a_s[row][(chunk % kChunksPerRow) * 8]) = staged[i];
  }
  for (int i = threadIdx.x; i < K * (kPairChannels / 2); i += kThreads) {
    const int k = i / (kPairChannels / 2), pair = i % (kPairChannels / 2);
    const int c = c_block + 2 * pair;
    float2 h = make_float2(0.f, 0.f);
    if (c < hidden) {
      h.x = taps[(c / channels_per_group) * K + k];
      h.y = taps[((c + 1) / channels_per_group) * K + k];
    }
    h_s[k][pair] = h;
  }
  __syncthreads();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int c = c_block + 2 * lane;
  if (c >= hidden) return;
  const int local0 = warp * kPairOut;
  const auto* a_pairs = reinterpret_cast<const __nv_bfloat162*>(&a_s[0][0]);
  auto window = [&](int row) { return __bfloat1622float2(a_pairs[row * (kPairChannels / 2) + lane]); };
  float2 win[kPairOut], acc[kPairOut];
#pragma unroll
  for (int j = 0; j < kPairOut; ++j) {
    win[j] = window(local0 + j + K - 1);
    acc[j] = make_float2(0.f, 0.f);
  }
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const float2 hk = h_s[k][lane];
#pragma unroll
    for (int j = 0; j < kPairOut; ++j) {
      acc[j].x = fmaf(hk.x, win[j].x, acc[j].x);
      acc[j].y = fmaf(hk.y, win[j].y, acc[j].y);
    }
    if (k + 1 < K) {
#pragma unroll
      for (int j = kPairOut - 1; j > 0; --j) win[j] = win[j - 1];
      win[0] = window(local0 + K - 2 - k);
    }
  }
  const float2 d = skip_d != nullptr ? make_float2(skip_d[c], skip_d[c + 1]) : make_float2(0.f, 0.f);
#pragma unroll
  for (int j = 0; j < kPairOut; ++j) {
    const int t = t0 + local0 + j;
    if (t >= seq) break;
    const float2 at = window(local0 + j + K - 1);
    const int64_t idx = base + static_cast<int64_t>(t) * hidden + c;
    const float2 qt = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(q + idx));
    const float y0 = Round<__nv_bfloat16>(acc[j].x + d.x * at.x);
    const float y1 = Round<__nv_bfloat16>(acc[j].y + d.y * at.y);
    *reinterpret_cast<__nv_bfloat162*>(o + idx) = __floats2bfloat162_rn(qt.x * y0, qt.y * y1);
  }
}

template <int K>
absl::Status LaunchPairFir(const __nv_bfloat16* q, const __nv_bfloat16* a, const float* taps,
                           const float* skip_d, __nv_bfloat16* o, int64_t batch, int64_t seq,
                           int64_t hidden, int cpg, cudaStream_t stream) {
  constexpr size_t smem = PairFirSmemBytes<K>();
  // Only the 128-tap window needs more than the default 48 KB; the attribute is per device,
  // hence set on every such call (a host-side driver call) rather than once per process.
  if constexpr (smem > 48 * 1024) {
    CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(HyenaFirGatePairKernel<K>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(smem)));
  }
  const int64_t time_tiles = (seq + kPairTime - 1) / kPairTime;
  if (batch * time_tiles > INT32_MAX)
    return absl::InvalidArgumentError("hyena_fir: batch × length too large");
  const dim3 grid(static_cast<unsigned>(batch * time_tiles),
                  static_cast<unsigned>((hidden + kPairChannels - 1) / kPairChannels));
  HyenaFirGatePairKernel<K><<<grid, 32 * kPairWarps, smem, stream>>>(
      q, a, taps, skip_d, o, static_cast<int>(seq), static_cast<int>(hidden), cpg,
      static_cast<int>(time_tiles));
  RETURN_IF_LAUNCH_FAILED("hyena_fir");
  return absl::OkStatus();
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
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    // 16 channels per group (7B, 40B): the Toeplitz product on the tensor cores.
    if (HyenaFirMmaSupports(hidden, groups, taps_per_filter))
      return LaunchHyenaFirGateMma(q, a, taps, skip_d, o, batch, seq, hidden, stream);
    // 16-byte rows of 8 channels and channel pairs: H % 8 == 0 (every Evo 2 shape).
    if (hidden % 8 == 0) {
      if (taps_per_filter == 7) return LaunchPairFir<7>(q, a, taps, skip_d, o, batch, seq, hidden, cpg, stream);
      if (taps_per_filter == 128) return LaunchPairFir<128>(q, a, taps, skip_d, o, batch, seq, hidden, cpg, stream);
    }
  }
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
