#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/element.cuh"
#include "kernels/gate_activation.cuh"
#include "kernels/skinny_gemm.cuh"

namespace evo2::kernels {
namespace {

constexpr int kWarps = 8;  // output rows in flight per block

template <typename T>
struct Vec {
  static constexpr int kElems = 16 / sizeof(T);
};

// Adds Σ over one 16-byte chunk: acc[r] += x[r, k..k+n) · w[o, k..k+n).
template <typename T, int R>
__device__ __forceinline__ void Dot16(const uint4& wv, const T* x, int64_t ldx, int64_t k,
                                      float (&acc)[R], int rows) {
  constexpr int n = Vec<T>::kElems;
  const T* we = reinterpret_cast<const T*>(&wv);
  float wf[n];
#pragma unroll
  for (int e = 0; e < n; ++e) wf[e] = ToFloat(we[e]);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
    const uint4 xv = *reinterpret_cast<const uint4*>(x + r * ldx + k);
    const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
    for (int e = 0; e < n; ++e) acc[r] = fmaf(ToFloat(xe[e]), wf[e], acc[r]);
  }
}

template <bool kW8, typename T, int R>
__device__ __forceinline__ void Dot(const uint4& wv, const T* x, int64_t ldx, int64_t k,
                                    float (&acc)[R], int rows);

// Adds Σ over one 16-byte chunk of E4M3 weights (16 codes): acc[r] += x[r, k..k+16) · w.
template <typename T, int R>
__device__ __forceinline__ void Dot16E4M3(const uint4& wv, const T* x, int64_t ldx, int64_t k,
                                          float (&acc)[R], int rows) {
  constexpr int n = Vec<T>::kElems;  // x elements per 16-byte load
  const auto* codes = reinterpret_cast<const __nv_fp8x2_storage_t*>(&wv);
  float wf[16];
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const __half2 h(__nv_cvt_fp8x2_to_halfraw2(codes[e], __NV_E4M3));  // exact: E4M3 ⊂ fp16
    const float2 f = __half22float2(h);
    wf[2 * e] = f.x;
    wf[2 * e + 1] = f.y;
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
#pragma unroll
    for (int part = 0; part < 16 / n; ++part) {
      const uint4 xv = *reinterpret_cast<const uint4*>(x + r * ldx + k + part * n);
      const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
      for (int e = 0; e < n; ++e) acc[r] = fmaf(ToFloat(xe[e]), wf[part * n + e], acc[r]);
    }
  }
}

template <bool kW8, typename T, int R>
__device__ __forceinline__ void Dot(const uint4& wv, const T* x, int64_t ldx, int64_t k,
                                    float (&acc)[R], int rows) {
  if constexpr (kW8) {
    Dot16E4M3<T, R>(wv, x, ldx, k, acc, rows);
  } else {
    Dot16<T, R>(wv, x, ldx, k, acc, rows);
  }
}

// kU: 16-byte loads in flight per lane. kGate (SkinnyOutput::kGatedMlp): the block's first
// kWarps/2 warps take l1 rows o, the others the l2 rows out + o of the same o, and the l1 warp
// gates with its partner's sum passed through shared memory.
// kW8: E4M3 weight codes (16 per 16-byte chunk) scaled per output row by w_inv_scale.
template <typename T, typename Out, int R, int kU, bool kGate, bool kW8>
__global__ void __launch_bounds__(32 * kWarps) SkinnyGemmKernel(SkinnyGemmArgs a) {
  constexpr int n = kW8 ? 16 : Vec<T>::kElems;               // weights per 16-byte chunk
  constexpr int kRowsPerStep = kGate ? kWarps / 2 : kWarps;  // outputs per block and step
  const int rows = static_cast<int>(a.rows);
  const int64_t K = a.in;
  using W = std::conditional_t<kW8, uint8_t, T>;
  const W* w = static_cast<const W*>(a.w);
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int slot = warp % kRowsPerStep;
  const bool partner = kGate && warp >= kRowsPerStep;  // computes the l2 row
  const int64_t w_offset = partner ? a.out : 0;        // [l1; l2]: l2 row o is row out + o
  {
    // The weights are never written: pull this warp's first row toward L2 (one 128-byte line
    // per lane and step) while the kernel before this one may still be running.
    const int64_t o = static_cast<int64_t>(blockIdx.x) * kRowsPerStep + slot;
    if (o < a.out) {
      const char* row = reinterpret_cast<const char*>(w + (o + w_offset) * K);
      const int64_t bytes = K * static_cast<int64_t>(sizeof(W));
      for (int64_t off = (threadIdx.x % 32) * 128; off < bytes; off += 32 * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(row + off));
    }
  }
  // A following programmatic GEMM may start its own prefetch during this one's last wave.
  AllowDependents();
  WaitForPrerequisites();
  const T* x = static_cast<const T*>(a.x);
  const int64_t ldx = a.ldx;
  __shared__ float partner_sum[kGate ? kRowsPerStep : 1][R];  // kGate: the l2 rows' sums
  const int lane = threadIdx.x % 32;
  const T* bias = static_cast<const T*>(a.bias);
  Out* y = static_cast<Out*>(a.y);
  const int64_t chunks = K / n;  // 16-byte chunks per weight row
  // The step count is the same for every warp of the block (kGate synchronises the block).
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * kRowsPerStep; base < a.out;
       base += static_cast<int64_t>(gridDim.x) * kRowsPerStep) {
    const int64_t o = base + slot;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.f;
    if (o < a.out) {
      const uint4* wr = reinterpret_cast<const uint4*>(w + (o + w_offset) * K);
      // Lane chunks lane, lane + 32, … in this order whatever kU (results independent of it).
      int64_t c = lane;
      for (; c + 32 * (kU - 1) < chunks; c += 32 * kU) {
        uint4 wv[kU];
#pragma unroll
        for (int u = 0; u < kU; ++u) wv[u] = __ldcs(wr + c + 32 * u);  // streamed once
#pragma unroll
        for (int u = 0; u < kU; ++u) Dot<kW8, T, R>(wv[u], x, ldx, (c + 32 * u) * n, acc, rows);
      }
      for (; c < chunks; c += 32) Dot<kW8, T, R>(__ldcs(wr + c), x, ldx, c * n, acc, rows);
#pragma unroll
      for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int off = 16; off > 0; off /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
      }
      if constexpr (kW8) {
        const float inv = a.w_inv_scale[o + w_offset];
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] *= inv;
      }
    }
    if constexpr (kGate) {
      if (partner && lane == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r) partner_sum[slot][r] = acc[r];
      }
      __syncthreads();
      if (!partner && lane == 0 && o < a.out) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r >= rows) break;
          // The plain product's store (acc + bias 0 + y 0) rounded to T, then the gate.
          const float l1 = Round<T>(acc[r] + 0.f + 0.f);
          const float l2 = Round<T>(partner_sum[slot][r] + 0.f + 0.f);
          y[r * a.ldy + o] = FromFloat<Out>(GateActivation<T>(l1, a.gelu) * l2);
        }
      }
      __syncthreads();  // partner_sum is reused by the next step
    } else if (lane == 0 && o < a.out) {
      const float b = bias != nullptr ? ToFloat(bias[o]) : 0.f;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r >= rows) break;
        Out* dst = y + r * a.ldy + o;
        const float prev = a.accumulate ? ToFloat(*dst) : 0.f;
        *dst = FromFloat<Out>(acc[r] + b + prev);
      }
    }
  }
}

// Launches `kernel`, as a programmatic dependent when asked; a refused programmatic launch
// (a driver without PDL) is retried as a plain one.
template <typename Kernel>
cudaError_t LaunchKernel(Kernel kernel, unsigned grid, cudaStream_t stream,
                         const SkinnyGemmArgs& a) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(grid);
  config.blockDim = dim3(32 * kWarps);
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = a.programmatic ? 1 : 0;
  cudaError_t err = cudaLaunchKernelEx(&config, kernel, a);
  if (err != cudaSuccess && a.programmatic) {
    (void)cudaGetLastError();
    config.numAttrs = 0;
    err = cudaLaunchKernelEx(&config, kernel, a);
  }
  return err;
}

// Loads in flight per lane: 16 for every K. Measured on an H100 (evo2_decode_linear_bench,
// bench/RESULTS.md) 16 was the fastest or tied on every 7B and 1B shape; 8 (the first choice
// for 5–8 chunks a lane, e.g. K = 1 920) was the slowest, since its main loop then runs once
// and leaves the rest to the one-load tail loop.
int AutoUnroll(int64_t /*chunks*/) { return 16; }

template <typename T, typename Out, int R, bool kGate, bool kW8>
cudaError_t LaunchUnrolled(const SkinnyGemmArgs& a, unsigned grid, cudaStream_t stream,
                           int unroll) {
  switch (unroll) {
    case 4:
      return LaunchKernel(SkinnyGemmKernel<T, Out, R, 4, kGate, kW8>, grid, stream, a);
    case 8:
      return LaunchKernel(SkinnyGemmKernel<T, Out, R, 8, kGate, kW8>, grid, stream, a);
    default:
      return LaunchKernel(SkinnyGemmKernel<T, Out, R, 16, kGate, kW8>, grid, stream, a);
  }
}

template <typename T, typename Out, int R, bool kGate>
cudaError_t LaunchWeights(const SkinnyGemmArgs& a, unsigned grid, cudaStream_t stream, int unroll) {
  if (a.w_inv_scale != nullptr)
    return LaunchUnrolled<T, Out, R, kGate, true>(a, grid, stream, unroll);
  return LaunchUnrolled<T, Out, R, kGate, false>(a, grid, stream, unroll);
}

template <typename T, typename Out, int R>
cudaError_t Launch(const SkinnyGemmArgs& a, cudaStream_t stream) {
  const bool gate = a.output == SkinnyOutput::kGatedMlp;
  const int64_t per_block = gate ? kWarps / 2 : kWarps;
  const auto grid = static_cast<unsigned>((a.out + per_block - 1) / per_block);
  const int64_t per_chunk = a.w_inv_scale != nullptr ? 16 : Vec<T>::kElems;  // weights
  const int unroll = a.unroll != 0 ? a.unroll : AutoUnroll(a.in / per_chunk);
  if constexpr (std::is_same_v<T, Out>) {
    if (gate) return LaunchWeights<T, Out, R, true>(a, grid, stream, unroll);
  }
  return LaunchWeights<T, Out, R, false>(a, grid, stream, unroll);
}

}  // namespace

template <typename T, typename Out>
absl::Status LaunchSkinnyGemm(const SkinnyGemmArgs& a, cudaStream_t stream) {
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr)
    return absl::InvalidArgumentError("skinny_gemm: null pointer");
  if (a.rows < 0 || a.in <= 0 || a.out <= 0 || a.ldx < a.in || a.ldy < a.out ||
      a.out > (int64_t{1} << 31))
    return absl::InvalidArgumentError(absl::StrCat("skinny_gemm: bad shape rows=", a.rows, " in=",
                                                   a.in, " out=", a.out, " ldx=", a.ldx,
                                                   " ldy=", a.ldy));
  constexpr int64_t n = Vec<T>::kElems;
  const auto misaligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; };
  if (a.rows > kSkinnyGemmMaxRows || a.in % n != 0 || a.ldx % n != 0 || misaligned(a.w) ||
      misaligned(a.x))
    return absl::UnimplementedError(absl::StrCat("skinny_gemm: rows=", a.rows, " in=", a.in,
                                                 " ldx=", a.ldx,
                                                 " (needs ≤ 8 rows and 16-byte rows)"));
  const bool gate = a.output == SkinnyOutput::kGatedMlp;
  if (gate && (!std::is_same_v<T, Out> || a.bias != nullptr || a.accumulate))
    return absl::InvalidArgumentError(
        "skinny_gemm: the gated output needs Out = T, no bias and no accumulation");
  if (a.w_inv_scale != nullptr && a.in % 16 != 0)
    return absl::UnimplementedError(
        absl::StrCat("skinny_gemm: E4M3 weights need K a multiple of 16 (K=", a.in, ")"));
  if (a.unroll != 0 && a.unroll != 4 && a.unroll != 8 && a.unroll != 16)
    return absl::InvalidArgumentError(
        absl::StrCat("skinny_gemm: unroll ", a.unroll, " (0, 4, 8 or 16)"));
  if (a.rows == 0) return absl::OkStatus();
  cudaError_t err;
  if (a.rows == 1) {
    err = Launch<T, Out, 1>(a, stream);
  } else if (a.rows <= 2) {
    err = Launch<T, Out, 2>(a, stream);
  } else if (a.rows <= 4) {
    err = Launch<T, Out, 4>(a, stream);
  } else {
    err = Launch<T, Out, 8>(a, stream);
  }
  CUDA_RETURN_IF_ERROR(err);
  RETURN_IF_LAUNCH_FAILED("skinny_gemm");
  return absl::OkStatus();
}

template absl::Status LaunchSkinnyGemm<float, float>(const SkinnyGemmArgs&, cudaStream_t);
template absl::Status LaunchSkinnyGemm<__nv_bfloat16, __nv_bfloat16>(const SkinnyGemmArgs&,
                                                                     cudaStream_t);
template absl::Status LaunchSkinnyGemm<__nv_bfloat16, float>(const SkinnyGemmArgs&, cudaStream_t);

}  // namespace evo2::kernels
