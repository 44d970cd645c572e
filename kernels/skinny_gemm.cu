#include "kernels/skinny_gemm.cuh"

#include <cuda_bf16.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kWarps = 8;   // output rows per block
constexpr int kUnroll = 4;  // 16-byte loads of w in flight per lane

template <typename T>
struct Vec {
  static constexpr int kElems = 16 / sizeof(T);
};

// Adds Σ over one 16-byte chunk: acc[r] += x[r, k..k+n) · w[o, k..k+n).
template <typename T, int R>
__device__ __forceinline__ void Dot16(const uint4& wv, const T* __restrict__ x, int64_t ldx,
                                      int64_t k, float (&acc)[R], int rows) {
  constexpr int n = Vec<T>::kElems;
  const T* we = reinterpret_cast<const T*>(&wv);
  float wf[n];
#pragma unroll
  for (int e = 0; e < n; ++e) wf[e] = ToFloat(we[e]);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
    const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + r * ldx + k));
    const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
    for (int e = 0; e < n; ++e) acc[r] = fmaf(ToFloat(xe[e]), wf[e], acc[r]);
  }
}

template <typename T, typename Out, int R>
__global__ void __launch_bounds__(32 * kWarps)
    SkinnyGemmKernel(const T* __restrict__ x, int64_t ldx, const T* __restrict__ w,
                     Out* __restrict__ y, int64_t ldy, int rows, int64_t in, int64_t out,
                     bool accumulate) {
  constexpr int n = Vec<T>::kElems;
  const int lane = threadIdx.x % 32;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (o >= out) return;
  const T* wr = w + o * in;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.f;
  const int64_t chunks = in / n;  // 16-byte chunks per row
  int64_t c = lane;
  for (; c + 32 * (kUnroll - 1) < chunks; c += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      wv[u] = __ldcs(reinterpret_cast<const uint4*>(wr) + c + 32 * u);  // streamed once
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) Dot16<T, R>(wv[u], x, ldx, (c + 32 * u) * n, acc, rows);
  }
  for (; c < chunks; c += 32) {
    const uint4 wv = __ldcs(reinterpret_cast<const uint4*>(wr) + c);
    Dot16<T, R>(wv, x, ldx, c * n, acc, rows);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      Out* dst = y + r * ldy + o;
      const float prev = accumulate ? ToFloat(*dst) : 0.f;
      *dst = FromFloat<Out>(acc[r] + prev);
    }
  }
}

template <typename T, typename Out, int R>
void Launch(const T* x, int64_t ldx, const T* w, Out* y, int64_t ldy, int64_t rows, int64_t in,
            int64_t out, bool accumulate, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((out + kWarps - 1) / kWarps);
  SkinnyGemmKernel<T, Out, R><<<blocks, 32 * kWarps, 0, stream>>>(
      x, ldx, w, y, ldy, static_cast<int>(rows), in, out, accumulate);
}

}  // namespace

template <typename T, typename Out>
absl::Status LaunchSkinnyGemm(const T* x, int64_t ldx, const T* w, Out* y, int64_t ldy,
                              int64_t rows, int64_t in, int64_t out, bool accumulate,
                              cudaStream_t stream) {
  if (x == nullptr || w == nullptr || y == nullptr)
    return absl::InvalidArgumentError("skinny_gemm: null pointer");
  if (rows < 0 || in <= 0 || out <= 0 || ldx < in || ldy < out || out > (int64_t{1} << 31))
    return absl::InvalidArgumentError(absl::StrCat("skinny_gemm: bad shape rows=", rows, " in=",
                                                   in, " out=", out, " ldx=", ldx, " ldy=", ldy));
  constexpr int64_t n = Vec<T>::kElems;
  const auto misaligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; };
  if (rows > kSkinnyGemmMaxRows || in % n != 0 || ldx % n != 0 || misaligned(x) || misaligned(w))
    return absl::UnimplementedError(absl::StrCat("skinny_gemm: rows=", rows, " in=", in, " ldx=",
                                                 ldx, " (needs ≤ 8 rows, 16-byte rows)"));
  if (rows == 0) return absl::OkStatus();
  if (rows == 1) {
    Launch<T, Out, 1>(x, ldx, w, y, ldy, rows, in, out, accumulate, stream);
  } else if (rows <= 2) {
    Launch<T, Out, 2>(x, ldx, w, y, ldy, rows, in, out, accumulate, stream);
  } else if (rows <= 4) {
    Launch<T, Out, 4>(x, ldx, w, y, ldy, rows, in, out, accumulate, stream);
  } else {
    Launch<T, Out, 8>(x, ldx, w, y, ldy, rows, in, out, accumulate, stream);
  }
  RETURN_IF_LAUNCH_FAILED("skinny_gemm");
  return absl::OkStatus();
}

#define EVO2_INSTANTIATE(T, Out)                                                                \
  template absl::Status LaunchSkinnyGemm<T, Out>(const T*, int64_t, const T*, Out*, int64_t,    \
                                                 int64_t, int64_t, int64_t, bool, cudaStream_t);
EVO2_INSTANTIATE(float, float)
EVO2_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
EVO2_INSTANTIATE(__nv_bfloat16, float)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
