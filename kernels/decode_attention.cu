#include <cuda_bf16.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/element.cuh"

namespace evo2::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // d ≤ 32·8 = 256

template <typename T>
__global__ void RotaryKvAppendKernel(const T* __restrict__ qkv, const float* __restrict__ inv_freq,
                                     float position_scale, const int32_t* __restrict__ positions,
                                     T* __restrict__ q, T* __restrict__ k_cache,
                                     T* __restrict__ v_cache, int heads, int head_dim,
                                     int64_t cap) {
  const int64_t b = blockIdx.x;
  const int t = positions[b];
  const int half = head_dim / 2;
  const T* src = qkv + b * 3 * heads * head_dim;
  const float pos = static_cast<float>(t) / position_scale;
  for (int idx = threadIdx.x; idx < heads * half; idx += blockDim.x) {
    const int h = idx / half;
    const int i = idx - h * half;
    const float angle = pos * inv_freq[i];
    const float cs = Round<T>(cosf(angle));
    const float sn = Round<T>(sinf(angle));
    const T* hs = src + static_cast<int64_t>(h) * 3 * head_dim;
    const int64_t qd = (b * heads + h) * head_dim;
    const int64_t kd = ((b * heads + h) * cap + t) * head_dim;
    const float q1 = ToFloat(hs[i]), q2 = ToFloat(hs[i + half]);
    const float k1 = ToFloat(hs[head_dim + i]), k2 = ToFloat(hs[head_dim + i + half]);
    q[qd + i] = FromFloat<T>(q1 * cs - q2 * sn);
    q[qd + i + half] = FromFloat<T>(q1 * sn + q2 * cs);
    k_cache[kd + i] = FromFloat<T>(k1 * cs - k2 * sn);
    k_cache[kd + i + half] = FromFloat<T>(k1 * sn + k2 * cs);
    v_cache[kd + i] = hs[2 * head_dim + i];
    v_cache[kd + i + half] = hs[2 * head_dim + i + half];
  }
}

// Partial layout per (bh, split): [m, l, acc[0..d)] fp32.
template <typename T>
__global__ void __launch_bounds__(32 * kWarps)
    DecodeAttentionPartialKernel(const T* __restrict__ q, const T* __restrict__ k_cache,
                                 const T* __restrict__ v_cache,
                                 const int32_t* __restrict__ positions, float* __restrict__ partial,
                                 int heads, int kv_heads, int head_dim, int64_t cap, int splits,
                                 float scale) {
  __shared__ float sm_m[kWarps], sm_l[kWarps];
  __shared__ float sm_acc[kWarps][32 * kMaxPerLane];
  const int64_t bh = blockIdx.x;
  const int split = blockIdx.y;
  const int64_t b = bh / heads;
  // Query head h reads KV head h / (heads / kv_heads) of its sequence (GQA; equal counts: h).
  const int64_t kvh = b * kv_heads + (bh - b * heads) / (heads / kv_heads);
  const int len = positions[b] + 1;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int k0 = split * static_cast<int>(kDecodeKeysPerSplit);
  const int k1 = min(len, k0 + static_cast<int>(kDecodeKeysPerSplit));
  float* out = partial + (bh * splits + split) * (head_dim + 2);
  if (k0 >= len) {
    if (threadIdx.x == 0) {
      out[0] = -INFINITY;
      out[1] = 0.f;
    }
    return;
  }
  float qr[kMaxPerLane], acc[kMaxPerLane];
  const T* qh = q + bh * head_dim;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int i = lane + 32 * j;
    qr[j] = i < head_dim ? ToFloat(qh[i]) * scale : 0.f;
    acc[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  const T* kb = k_cache + kvh * cap * head_dim;
  const T* vb = v_cache + kvh * cap * head_dim;
  // A warp's keys tau = k0 + warp, + kWarps, … in this order, kKeyBatch at a time: the K rows of
  // the batch are loaded before their dot products and the V rows before their updates, so a
  // batch costs two memory latencies instead of two per key (one key at a time took 37 µs per
  // call at a 7B step under ncu on an H100). The arithmetic and its order are unchanged.
  constexpr int kKeyBatch = 4;
  for (int tau0 = k0 + warp; tau0 < k1; tau0 += kWarps * kKeyBatch) {
    float rows[kKeyBatch][kMaxPerLane];  // K rows, then V rows of the batch's keys
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      const int tau = tau0 + u * kWarps;
      const T* kr = kb + static_cast<int64_t>(tau) * head_dim;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int i = lane + 32 * j;
        rows[u][j] = tau < k1 && i < head_dim ? ToFloat(kr[i]) : 0.f;
      }
    }
    float dots[kKeyBatch];
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      float dot = 0.f;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int i = lane + 32 * j;
        if (i < head_dim) dot = fmaf(qr[j], rows[u][j], dot);
      }
#pragma unroll
      for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      dots[u] = dot;
    }
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      const int tau = tau0 + u * kWarps;
      const T* vr = vb + static_cast<int64_t>(tau) * head_dim;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int i = lane + 32 * j;
        rows[u][j] = tau < k1 && i < head_dim ? ToFloat(vr[i]) : 0.f;
      }
    }
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      if (tau0 + u * kWarps >= k1) break;
      const float dot = dots[u];
      const float m_new = fmaxf(m, dot);
      const float corr = expf(m - m_new);  // 0 on the first key (m = −inf)
      const float p = expf(dot - m_new);
      l = l * corr + p;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int i = lane + 32 * j;
        if (i < head_dim) acc[j] = fmaf(p, rows[u][j], acc[j] * corr);
      }
      m = m_new;
    }
  }
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) sm_acc[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float m_all = -INFINITY;
  for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, sm_m[w]);
  if (threadIdx.x == 0) {
    float l_all = 0.f;
    for (int w = 0; w < kWarps; ++w)
      if (sm_l[w] > 0.f) l_all += sm_l[w] * expf(sm_m[w] - m_all);
    out[0] = m_all;
    out[1] = l_all;
  }
  for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float sum = 0.f;
    for (int w = 0; w < kWarps; ++w)
      if (sm_l[w] > 0.f) sum += sm_acc[w][i] * expf(sm_m[w] - m_all);
    out[2 + i] = sum;
  }
}

template <typename T>
__global__ void DecodeAttentionMergeKernel(const float* __restrict__ partial,
                                           const int32_t* __restrict__ positions,
                                           T* __restrict__ out, int heads, int head_dim,
                                           int splits) {
  AllowDependents();  // dependent_launch.cuh: the decoder's next GEMM may start early
  const int64_t bh = blockIdx.x;
  const int64_t b = bh / heads;
  const int used = static_cast<int>((positions[b] + kDecodeKeysPerSplit) / kDecodeKeysPerSplit);
  const float* p = partial + bh * splits * (head_dim + 2);
  float m_all = -INFINITY;
  for (int s = 0; s < used; ++s) m_all = fmaxf(m_all, p[s * (head_dim + 2)]);
  float l_all = 0.f;
  for (int s = 0; s < used; ++s) {
    const float* ps = p + s * (head_dim + 2);
    l_all += ps[1] * expf(ps[0] - m_all);
  }
  const float inv = 1.f / l_all;
  for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float sum = 0.f;
    for (int s = 0; s < used; ++s) {
      const float* ps = p + s * (head_dim + 2);
      sum += ps[2 + i] * expf(ps[0] - m_all);
    }
    out[bh * head_dim + i] = FromFloat<T>(sum * inv);
  }
}

absl::Status CheckShape(const char* op, int64_t batch, int64_t heads, int64_t head_dim,
                        int64_t cap) {
  if (batch < 0 || batch > 65535 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 ||
      head_dim > 32 * kMaxPerLane || cap <= 0 || cap > (int64_t{1} << 30) ||
      heads * head_dim > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": unsupported shape B=", batch, " heads=", heads, " d=", head_dim, " cap=", cap));
  return absl::OkStatus();
}

}  // namespace

size_t DecodeAttentionWorkspaceBytes(int64_t batch, int64_t heads, int64_t head_dim, int64_t cap) {
  const int64_t splits = (cap + kDecodeKeysPerSplit - 1) / kDecodeKeysPerSplit;
  return static_cast<size_t>(batch * heads * splits * (head_dim + 2)) * sizeof(float);
}

template <typename T>
absl::Status LaunchRotaryKvAppend(const T* qkv, const float* inv_freq, float position_scale,
                                  const int32_t* positions, T* q, T* k_cache, T* v_cache,
                                  int64_t batch, int64_t heads, int64_t head_dim, int64_t cap,
                                  cudaStream_t stream) {
  if (qkv == nullptr || inv_freq == nullptr || positions == nullptr || q == nullptr ||
      k_cache == nullptr || v_cache == nullptr)
    return absl::InvalidArgumentError("rotary_kv_append: null pointer");
  RETURN_IF_ERROR(CheckShape("rotary_kv_append", batch, heads, head_dim, cap));
  if (!(position_scale > 0.f))
    return absl::InvalidArgumentError(absl::StrCat("rotary_kv_append: scale ", position_scale));
  if (batch == 0) return absl::OkStatus();
  RotaryKvAppendKernel<T><<<static_cast<unsigned>(batch), 256, 0, stream>>>(
      qkv, inv_freq, position_scale, positions, q, k_cache, v_cache, static_cast<int>(heads),
      static_cast<int>(head_dim), cap);
  RETURN_IF_LAUNCH_FAILED("rotary_kv_append");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchDecodeAttentionGqa(const T* q, const T* k_cache, const T* v_cache,
                                      const int32_t* positions, T* out, void* workspace,
                                      size_t workspace_bytes, int64_t batch, int64_t heads,
                                      int64_t kv_heads, int64_t head_dim, int64_t cap,
                                      cudaStream_t stream) {
  if (q == nullptr || k_cache == nullptr || v_cache == nullptr || positions == nullptr ||
      out == nullptr)
    return absl::InvalidArgumentError("decode_attention: null pointer");
  RETURN_IF_ERROR(CheckShape("decode_attention", batch, heads, head_dim, cap));
  if (kv_heads <= 0 || heads % kv_heads != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("decode_attention: ", kv_heads, " KV heads do not divide ", heads, " heads"));
  if (batch == 0) return absl::OkStatus();
  const size_t need = DecodeAttentionWorkspaceBytes(batch, heads, head_dim, cap);
  if (workspace == nullptr || workspace_bytes < need)
    return absl::InvalidArgumentError(
        absl::StrCat("decode_attention: workspace of ", workspace_bytes, " bytes, need ", need));
  const int64_t splits = (cap + kDecodeKeysPerSplit - 1) / kDecodeKeysPerSplit;
  if (splits > 65535) return absl::InvalidArgumentError("decode_attention: cache too long");
  float* partial = static_cast<float*>(workspace);
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  DecodeAttentionPartialKernel<T>
      <<<dim3(static_cast<unsigned>(batch * heads), static_cast<unsigned>(splits)), 32 * kWarps, 0,
         stream>>>(q, k_cache, v_cache, positions, partial, static_cast<int>(heads),
                   static_cast<int>(kv_heads), static_cast<int>(head_dim), cap,
                   static_cast<int>(splits), scale);
  RETURN_IF_LAUNCH_FAILED("decode_attention partial");
  DecodeAttentionMergeKernel<T><<<static_cast<unsigned>(batch * heads), 128, 0, stream>>>(
      partial, positions, out, static_cast<int>(heads), static_cast<int>(head_dim),
      static_cast<int>(splits));
  RETURN_IF_LAUNCH_FAILED("decode_attention merge");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchDecodeAttention(const T* q, const T* k_cache, const T* v_cache,
                                   const int32_t* positions, T* out, void* workspace,
                                   size_t workspace_bytes, int64_t batch, int64_t heads,
                                   int64_t head_dim, int64_t cap, cudaStream_t stream) {
  return LaunchDecodeAttentionGqa<T>(q, k_cache, v_cache, positions, out, workspace,
                                     workspace_bytes, batch, heads, heads, head_dim, cap, stream);
}

#define EVO2_INSTANTIATE(T)                                                                        \
  template absl::Status LaunchRotaryKvAppend<T>(const T*, const float*, float, const int32_t*, T*, \
                                                T*, T*, int64_t, int64_t, int64_t, int64_t,        \
                                                cudaStream_t);                                     \
  template absl::Status LaunchDecodeAttention<T>(const T*, const T*, const T*, const int32_t*, T*, \
                                                 void*, size_t, int64_t, int64_t, int64_t,         \
                                                 int64_t, cudaStream_t);                           \
  template absl::Status LaunchDecodeAttentionGqa<T>(const T*, const T*, const T*, const int32_t*,  \
                                                    T*, void*, size_t, int64_t, int64_t, int64_t,  \
                                                    int64_t, int64_t, cudaStream_t);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
