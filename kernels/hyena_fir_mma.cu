// The 128-tap grouped FIR as a Toeplitz matrix product on the tensor cores (kernels/NOTES.md:
// the fp32-FMA versions reach 23 TFLOP/s, 36 % of the FMA pipe, and cost more than the memory
// floor 4×). For one filter group (16 channels sharing taps h) and 16 output steps t0..t0+15:
//   y[t0+i, c] = Σ_j T[i, j] · a[t0-128+j, c],   T[i, j] = h[i-j+128] for 0 ≤ i-j+128 < 128
// i.e. a [16 × 144] · [144 × 16] product (9 k-steps of mma.m16n8k16 per 8 channels). T depends
// on i-j only, so a warp builds its A fragments once and reuses them for every time tile. The
// fp32 taps are split h = hi + lo (both bf16; |h - hi - lo| ≤ 2^-16·|h|) and both halves go
// through the MMA with fp32 accumulation, so the sum keeps ~fp32 accuracy while a stays exact.
#include "kernels/hyena_fir_mma.cuh"

#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/mma.cuh"

namespace evo2::kernels {
namespace {

constexpr int kTaps = 128;
constexpr int kGroupChannels = 16;               // channels per filter group (2 n-tiles)
constexpr int kBlockChannels = 64;               // 4 groups per block
constexpr int kBlockTime = 128;                  // output steps per block
constexpr int kWarps = 8;                        // warp w: group w % 4, time half w / 4
constexpr int kTilesPerWarp = kBlockTime / 2 / 16;  // 4 m-tiles of 16 steps
constexpr int kKSteps = (16 + kTaps) / 16;          // 9 k-steps of 16 input rows
constexpr int kRows = kBlockTime + kTaps;           // window rows t0-128 .. t0+127
constexpr int kRowPitch = kBlockChannels + 8;       // padded: conflict-free ldmatrix

__global__ void __launch_bounds__(kWarps * 32)
    HyenaFirGateMmaKernel(const __nv_bfloat16* __restrict__ q,
                          const __nv_bfloat16* __restrict__ a, const float* __restrict__ taps,
                          const float* __restrict__ skip_d, __nv_bfloat16* __restrict__ o,
                          int seq, int hidden, int time_tiles) {
  __shared__ __align__(16) __nv_bfloat16 a_s[kRows][kRowPitch];
  __shared__ float h_s[kBlockChannels / kGroupChannels][kTaps];
  const int b = blockIdx.x / time_tiles;
  const int t_block = (blockIdx.x - b * time_tiles) * kBlockTime;
  const int c_block = blockIdx.y * kBlockChannels;
  const int64_t base = static_cast<int64_t>(b) * seq * hidden;

  // Stage the window (16-byte chunks, all loads issued before the first store) and the taps.
  constexpr int kChunksPerRow = kBlockChannels / 8;
  constexpr int kLoads = kRows * kChunksPerRow / (kWarps * 32);
  static_assert(kRows * kChunksPerRow % (kWarps * 32) == 0);
  uint4 staged[kLoads];
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    const int chunk = threadIdx.x + i * kWarps * 32;
    const int row = chunk / kChunksPerRow, c = c_block + (chunk % kChunksPerRow) * 8;
    const int t = t_block - kTaps + row;
    staged[i] = make_uint4(0, 0, 0, 0);
    if (t >= 0 && t < seq && c < hidden)
      staged[i] = *reinterpret_cast<const uint4*>(a + base + static_cast<int64_t>(t) * hidden + c);
  }
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    const int chunk = threadIdx.x + i * kWarps * 32;
    *reinterpret_cast<uint4*>(&a_s[chunk / kChunksPerRow][(chunk % kChunksPerRow) * 8]) = staged[i];
  }
  for (int i = threadIdx.x; i < (kBlockChannels / kGroupChannels) * kTaps; i += kWarps * 32) {
    const int g = i / kTaps, k = i % kTaps;
    const int group = (c_block + g * kGroupChannels) / kGroupChannels;
    h_s[g][k] = c_block + g * kGroupChannels < hidden ? taps[group * kTaps + k] : 0.f;
  }
  __syncthreads();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = warp % (kBlockChannels / kGroupChannels);
  const int c_group = c_block + group * kGroupChannels;
  if (c_group >= hidden) return;
  const int gi = lane / 4, ii = lane % 4;

  // A fragments of T (hi and lo halves) for the 9 k-steps: element (i, j) = h[i - j + 128].
  uint32_t t_hi[kKSteps][4], t_lo[kKSteps][4];
  auto tap = [&](int i, int j) {
    const int lag = i - j + kTaps;
    return lag >= 0 && lag < kTaps ? h_s[group][lag] : 0.f;
  };
#pragma unroll
  for (int ks = 0; ks < kKSteps; ++ks) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int i = gi + (r & 1) * 8, j = ks * 16 + 2 * ii + (r >> 1) * 8;
      const float h0 = tap(i, j), h1 = tap(i, j + 1);
      const __nv_bfloat162 hi = __floats2bfloat162_rn(h0, h1);
      const float2 hi_f = __bfloat1622float2(hi);
      t_hi[ks][r] = *reinterpret_cast<const uint32_t*>(&hi);
      t_lo[ks][r] = PackBf16(h0 - hi_f.x, h1 - hi_f.y);
    }
  }

  // ldmatrix.trans of window rows [row0, row0+16) × the group's 16 channels gives the B
  // fragments of both 8-channel n-tiles (matrices: rows +0-7 / +8-15 × channels +0-7 / +8-15).
  const int lm_row = (lane & 7) + ((lane >> 3) & 1) * 8;
  const int lm_col = group * kGroupChannels + (lane >> 4) * 8;
  const float2 d = skip_d != nullptr
                       ? make_float2(skip_d[c_group + 2 * ii], skip_d[c_group + 2 * ii + 1])
                       : make_float2(0.f, 0.f);
  const float2 d8 = skip_d != nullptr
                        ? make_float2(skip_d[c_group + 8 + 2 * ii], skip_d[c_group + 9 + 2 * ii])
                        : make_float2(0.f, 0.f);
  const int tile0 = (warp / (kBlockChannels / kGroupChannels)) * kTilesPerWarp;
#pragma unroll 1
  for (int tile = tile0; tile < tile0 + kTilesPerWarp; ++tile) {
    const int t0 = t_block + tile * 16;
    if (t0 >= seq) break;
    float acc[2][4] = {};
#pragma unroll
    for (int ks = 0; ks < kKSteps; ++ks) {
      uint32_t bf[4];
      LdMatrixX4Trans(bf, &a_s[tile * 16 + ks * 16 + lm_row][lm_col]);
      MmaBf16(acc[0], t_hi[ks], bf[0], bf[1]);
      MmaBf16(acc[1], t_hi[ks], bf[2], bf[3]);
      MmaBf16(acc[0], t_lo[ks], bf[0], bf[1]);
      MmaBf16(acc[1], t_lo[ks], bf[2], bf[3]);
    }
    // Epilogue: + D·a, then o = q · round(y) (as the FMA kernels).
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const float2 dn = nt == 0 ? d : d8;
      const int c = c_group + nt * 8 + 2 * ii;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int i = gi + half * 8;
        const int t = t0 + i;
        if (t >= seq) continue;
        const float2 at = __bfloat1622float2(
            *reinterpret_cast<const __nv_bfloat162*>(&a_s[tile * 16 + i + kTaps][c - c_block]));
        const int64_t idx = base + static_cast<int64_t>(t) * hidden + c;
        const float2 qt = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(q + idx));
        const float y0 = Round<__nv_bfloat16>(acc[nt][2 * half] + dn.x * at.x);
        const float y1 = Round<__nv_bfloat16>(acc[nt][2 * half + 1] + dn.y * at.y);
        *reinterpret_cast<__nv_bfloat162*>(o + idx) = __floats2bfloat162_rn(qt.x * y0, qt.y * y1);
      }
    }
  }
}

}  // namespace

bool HyenaFirMmaSupports(int64_t hidden, int64_t groups, int64_t taps_per_filter) {
  return taps_per_filter == kTaps && groups > 0 && hidden == groups * kGroupChannels &&
         hidden % 8 == 0;
}

absl::Status LaunchHyenaFirGateMma(const __nv_bfloat16* q, const __nv_bfloat16* a,
                                   const float* taps, const float* skip_d, __nv_bfloat16* o,
                                   int64_t batch, int64_t seq, int64_t hidden,
                                   cudaStream_t stream) {
  const int64_t time_tiles = (seq + kBlockTime - 1) / kBlockTime;
  if (batch * time_tiles > INT32_MAX)
    return absl::InvalidArgumentError("hyena_fir: batch × length too large");
  const dim3 grid(static_cast<unsigned>(batch * time_tiles),
                  static_cast<unsigned>((hidden + kBlockChannels - 1) / kBlockChannels));
  HyenaFirGateMmaKernel<<<grid, kWarps * 32, 0, stream>>>(q, a, taps, skip_d, o,
                                                          static_cast<int>(seq),
                                                          static_cast<int>(hidden),
                                                          static_cast<int>(time_tiles));
  RETURN_IF_LAUNCH_FAILED("hyena_fir (tensor cores)");
  return absl::OkStatus();
}

}  // namespace evo2::kernels
