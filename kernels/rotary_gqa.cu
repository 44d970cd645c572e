#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/rotary_gqa.cuh"

namespace evo2::kernels {
namespace {

// One block per (batch, position); threads over (head slot, i < d/2) where the head slots are
// the query heads followed by the KV heads. Query slots rotate q; KV slots rotate k and copy v,
// each to `copies` output heads (1, or the group size when repeating KV heads).
template <typename T>
__global__ void RotaryGqaSplitKernel(const T* __restrict__ qkv, const float* __restrict__ inv_freq,
                                     T* __restrict__ q, T* __restrict__ k, T* __restrict__ v,
                                     int seq, int heads, int kv_heads, int head_dim, int copies) {
  const int64_t row = blockIdx.x;  // b * seq + t
  const int b = static_cast<int>(row / seq);
  const int t = static_cast<int>(row - static_cast<int64_t>(b) * seq);
  const int half = head_dim / 2;
  const int64_t ld = static_cast<int64_t>(heads + 2 * kv_heads) * head_dim;
  const T* src = qkv + row * ld;
  const float pos = static_cast<float>(t);
  const int kv_out = kv_heads * copies;
  for (int idx = threadIdx.x; idx < (heads + kv_heads) * half; idx += blockDim.x) {
    const int slot = idx / half;
    const int i = idx - slot * half;
    const float angle = pos * inv_freq[i];
    const float cs = Round<T>(cosf(angle));
    const float sn = Round<T>(sinf(angle));
    const T* hs = src + static_cast<int64_t>(slot) * head_dim;  // q head or k head `slot - heads`
    const float x1 = ToFloat(hs[i]), x2 = ToFloat(hs[i + half]);
    const T r1 = FromFloat<T>(x1 * cs - x2 * sn);
    const T r2 = FromFloat<T>(x1 * sn + x2 * cs);
    if (slot < heads) {
      const int64_t dst = ((static_cast<int64_t>(b) * heads + slot) * seq + t) * head_dim;
      q[dst + i] = r1;
      q[dst + i + half] = r2;
      continue;
    }
    const int g = slot - heads;
    const T* vs = src + static_cast<int64_t>(heads + kv_heads + g) * head_dim;
    const T v1 = vs[i], v2 = vs[i + half];
    for (int c = 0; c < copies; ++c) {
      const int64_t dst =
          ((static_cast<int64_t>(b) * kv_out + g * copies + c) * seq + t) * head_dim;
      k[dst + i] = r1;
      k[dst + i + half] = r2;
      v[dst + i] = v1;
      v[dst + i + half] = v2;
    }
  }
}

// The decode step's form: one block per sequence b at its own position t_b = positions[b]; the
// rotation is RotaryGqaSplitKernel's (none without a table), K and V go to row t_b of the
// caches, every head written `out_dim` wide (columns d.. zero).
template <typename T>
__global__ void RotaryGqaKvAppendKernel(const T* __restrict__ qkv,
                                        const float* __restrict__ inv_freq,
                                        const int32_t* __restrict__ positions, T* __restrict__ q,
                                        T* __restrict__ k_cache, T* __restrict__ v_cache, int heads,
                                        int kv_heads, int head_dim, int out_dim, float q_scale,
                                        int64_t cap) {
  const int64_t b = blockIdx.x;
  const int t = positions[b];
  const int half = head_dim / 2;
  const int64_t ld = static_cast<int64_t>(heads + 2 * kv_heads) * head_dim;
  const T* src = qkv + b * ld;
  const float pos = static_cast<float>(t);
  for (int idx = threadIdx.x; idx < (heads + kv_heads) * half; idx += blockDim.x) {
    const int slot = idx / half;
    const int i = idx - slot * half;
    float cs = 1.f, sn = 0.f;
    if (inv_freq != nullptr) {
      const float angle = pos * inv_freq[i];
      cs = Round<T>(cosf(angle));
      sn = Round<T>(sinf(angle));
    }
    const T* hs = src + static_cast<int64_t>(slot) * head_dim;
    const float x1 = ToFloat(hs[i]), x2 = ToFloat(hs[i + half]);
    const float r1 = inv_freq != nullptr ? x1 * cs - x2 * sn : x1;
    const float r2 = inv_freq != nullptr ? x1 * sn + x2 * cs : x2;
    if (slot < heads) {
      const int64_t dst = (b * heads + slot) * out_dim;
      q[dst + i] = FromFloat<T>(Round<T>(r1) * q_scale);
      q[dst + i + half] = FromFloat<T>(Round<T>(r2) * q_scale);
      continue;
    }
    const int g = slot - heads;
    const T* vs = src + static_cast<int64_t>(heads + kv_heads + g) * head_dim;
    const int64_t dst = ((b * kv_heads + g) * cap + t) * out_dim;
    k_cache[dst + i] = FromFloat<T>(r1);
    k_cache[dst + i + half] = FromFloat<T>(r2);
    v_cache[dst + i] = vs[i];
    v_cache[dst + i + half] = vs[i + half];
  }
  const int pad = out_dim - head_dim;
  for (int idx = threadIdx.x; idx < (heads + kv_heads) * pad; idx += blockDim.x) {
    const int slot = idx / pad;
    const int col = head_dim + idx - slot * pad;
    if (slot < heads) {
      q[(b * heads + slot) * out_dim + col] = FromFloat<T>(0.f);
      continue;
    }
    const int64_t dst = ((b * kv_heads + slot - heads) * cap + t) * out_dim + col;
    k_cache[dst] = FromFloat<T>(0.f);
    v_cache[dst] = FromFloat<T>(0.f);
  }
}

}  // namespace

template <typename T>
absl::Status LaunchRotaryGqaSplit(const T* qkv, const float* inv_freq, T* q, T* k, T* v,
                                  int64_t batch, int64_t seq, const GqaShape& shape, bool repeat_kv,
                                  cudaStream_t stream) {
  if (qkv == nullptr || inv_freq == nullptr || q == nullptr || k == nullptr || v == nullptr)
    return absl::InvalidArgumentError("rotary_gqa: null pointer");
  const int64_t heads = shape.heads, kv_heads = shape.kv_heads, d = shape.head_dim;
  if (batch < 0 || seq < 0 || heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || d <= 0 ||
      d % 2 != 0 || seq > (1 << 30) || (heads + 2 * kv_heads) * d > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat("rotary_gqa: bad shape B=", batch, " S=", seq,
                                                   " heads=", heads, " kv_heads=", kv_heads,
                                                   " d=", d));
  if (batch == 0 || seq == 0) return absl::OkStatus();
  if (batch * seq > INT32_MAX)
    return absl::InvalidArgumentError("rotary_gqa: batch × length too large");
  const int copies = repeat_kv ? static_cast<int>(heads / kv_heads) : 1;
  RotaryGqaSplitKernel<T><<<static_cast<unsigned>(batch * seq), 256, 0, stream>>>(
      qkv, inv_freq, q, k, v, static_cast<int>(seq), static_cast<int>(heads),
      static_cast<int>(kv_heads), static_cast<int>(d), copies);
  RETURN_IF_LAUNCH_FAILED("rotary_gqa");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchRotaryGqaKvAppend(const T* qkv, const float* inv_freq, const int32_t* positions,
                                     T* q, T* k_cache, T* v_cache, int64_t batch,
                                     const GqaShape& shape, int64_t cap, cudaStream_t stream,
                                     const KvAppendLayout& layout) {
  if (qkv == nullptr || positions == nullptr || q == nullptr || k_cache == nullptr ||
      v_cache == nullptr)
    return absl::InvalidArgumentError("rotary_gqa_kv_append: null pointer");
  const int64_t heads = shape.heads, kv_heads = shape.kv_heads, d = shape.head_dim;
  const int64_t out_dim = layout.cache_head_dim == 0 ? d : layout.cache_head_dim;
  if (batch < 0 || batch > 65535 || heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 ||
      d <= 0 || d % 2 != 0 || out_dim < d || out_dim > 4096 || cap <= 0 ||
      cap > (int64_t{1} << 30) || (heads + 2 * kv_heads) * d > (1 << 20) || !(layout.q_scale > 0.f))
    return absl::InvalidArgumentError(absl::StrCat(
        "rotary_gqa_kv_append: bad shape B=", batch, " heads=", heads, " kv_heads=", kv_heads,
        " d=", d, " cache d=", out_dim, " cap=", cap, " q scale=", layout.q_scale));
  if (batch == 0) return absl::OkStatus();
  RotaryGqaKvAppendKernel<T><<<static_cast<unsigned>(batch), 256, 0, stream>>>(
      qkv, inv_freq, positions, q, k_cache, v_cache, static_cast<int>(heads),
      static_cast<int>(kv_heads), static_cast<int>(d), static_cast<int>(out_dim), layout.q_scale,
      cap);
  RETURN_IF_LAUNCH_FAILED("rotary_gqa_kv_append");
  return absl::OkStatus();
}

template absl::Status LaunchRotaryGqaSplit<float>(const float*, const float*, float*, float*,
                                                  float*, int64_t, int64_t, const GqaShape&, bool,
                                                  cudaStream_t);
template absl::Status LaunchRotaryGqaSplit<__nv_bfloat16>(const __nv_bfloat16*, const float*,
                                                          __nv_bfloat16*, __nv_bfloat16*,
                                                          __nv_bfloat16*, int64_t, int64_t,
                                                          const GqaShape&, bool, cudaStream_t);
template absl::Status LaunchRotaryGqaKvAppend<float>(const float*, const float*, const int32_t*,
                                                     float*, float*, float*, int64_t,
                                                     const GqaShape&, int64_t, cudaStream_t,
                                                     const KvAppendLayout&);
template absl::Status LaunchRotaryGqaKvAppend<__nv_bfloat16>(const __nv_bfloat16*, const float*,
                                                             const int32_t*, __nv_bfloat16*,
                                                             __nv_bfloat16*, __nv_bfloat16*,
                                                             int64_t, const GqaShape&, int64_t,
                                                             cudaStream_t, const KvAppendLayout&);

}  // namespace evo2::kernels
