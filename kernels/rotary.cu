#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/rotary.cuh"

namespace evo2::kernels {
namespace {

// One block per (batch, position); threads over (head, i < d/2).
template <typename T>
__global__ void RotaryQkvSplitKernel(const T* __restrict__ qkv, const float* __restrict__ inv_freq,
                                     float position_scale, T* __restrict__ q, T* __restrict__ k,
                                     T* __restrict__ v, int seq, int heads, int head_dim,
                                     int first_position, int position_stride) {
  const int64_t row = blockIdx.x;  // b * seq + t
  const int b = static_cast<int>(row / seq);
  const int t = static_cast<int>(row - static_cast<int64_t>(b) * seq);
  const int half = head_dim / 2;
  const T* src = qkv + row * 3 * heads * head_dim;
  const float pos = static_cast<float>(first_position + b * position_stride + t) / position_scale;
  for (int idx = threadIdx.x; idx < heads * half; idx += blockDim.x) {
    const int h = idx / half;
    const int i = idx - h * half;
    const float angle = pos * inv_freq[i];
    const float cs = Round<T>(cosf(angle));
    const float sn = Round<T>(sinf(angle));
    const T* hs = src + static_cast<int64_t>(h) * 3 * head_dim;
    const int64_t dst = ((static_cast<int64_t>(b) * heads + h) * seq + t) * head_dim;
    const float q1 = ToFloat(hs[i]), q2 = ToFloat(hs[i + half]);
    const float k1 = ToFloat(hs[head_dim + i]), k2 = ToFloat(hs[head_dim + i + half]);
    q[dst + i] = FromFloat<T>(q1 * cs - q2 * sn);
    q[dst + i + half] = FromFloat<T>(q1 * sn + q2 * cs);
    k[dst + i] = FromFloat<T>(k1 * cs - k2 * sn);
    k[dst + i + half] = FromFloat<T>(k1 * sn + k2 * cs);
    v[dst + i] = hs[2 * head_dim + i];
    v[dst + i + half] = hs[2 * head_dim + i + half];
  }
}

}  // namespace

template <typename T>
absl::Status LaunchRotaryQkvSplit(const T* qkv, const float* inv_freq, float position_scale, T* q,
                                  T* k, T* v, int64_t batch, int64_t seq, int64_t heads,
                                  int64_t head_dim, cudaStream_t stream, int64_t first_position,
                                  int64_t position_stride) {
  if (qkv == nullptr || inv_freq == nullptr || q == nullptr || k == nullptr || v == nullptr)
    return absl::InvalidArgumentError("rotary: null pointer");
  if (batch < 0 || seq < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 ||
      seq > (1 << 30) || heads * head_dim > (1 << 20) || !(position_scale > 0.f))
    return absl::InvalidArgumentError(absl::StrCat("rotary: bad shape B=", batch, " S=", seq,
                                                   " heads=", heads, " d=", head_dim,
                                                   " scale=", position_scale));
  if (batch == 0 || seq == 0) return absl::OkStatus();
  // Every position first + b·stride + t must be ≥ 0 and fit the kernel's int.
  const int64_t lowest = first_position + std::min<int64_t>(0, (batch - 1) * position_stride);
  const int64_t highest =
      first_position + std::max<int64_t>(0, (batch - 1) * position_stride) + seq - 1;
  if (lowest < 0 || highest > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("rotary: positions ", lowest, " … ", highest,
                                                   " out of range (first ", first_position,
                                                   ", stride ", position_stride, ")"));
  if (batch * seq > INT32_MAX) return absl::InvalidArgumentError("rotary: batch × length too large");
  RotaryQkvSplitKernel<T><<<static_cast<unsigned>(batch * seq), 256, 0, stream>>>(
      qkv, inv_freq, position_scale, q, k, v, static_cast<int>(seq), static_cast<int>(heads),
      static_cast<int>(head_dim), static_cast<int>(first_position),
      static_cast<int>(position_stride));
  RETURN_IF_LAUNCH_FAILED("rotary");
  return absl::OkStatus();
}

template absl::Status LaunchRotaryQkvSplit<float>(const float*, const float*, float, float*, float*,
                                                  float*, int64_t, int64_t, int64_t, int64_t,
                                                  cudaStream_t, int64_t, int64_t);
template absl::Status LaunchRotaryQkvSplit<__nv_bfloat16>(const __nv_bfloat16*, const float*, float,
                                                          __nv_bfloat16*, __nv_bfloat16*,
                                                          __nv_bfloat16*, int64_t, int64_t, int64_t,
                                                          int64_t, cudaStream_t, int64_t, int64_t);

}  // namespace evo2::kernels
