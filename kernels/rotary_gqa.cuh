// Grouped-query attention input preparation: split a fused projection whose columns are
// [q heads | k heads | v heads] (the HuggingFace q_proj; k_proj; v_proj order) into head-major
// Q, K, V and apply rotate-half rotary embedding (RoFormer, Su et al. 2021) to Q and K:
//   θ[t, i] = t · ω_i   (one fp32 product, as transformers forms it),  i < d/2
//   (x_i, x_{i+d/2}) → (x_i·cos θ − x_{i+d/2}·sin θ,  x_i·sin θ + x_{i+d/2}·cos θ)
// ω is any [d/2] fp32 frequency table (plain θ^(−2i/d), llama3-scaled, ...: the caller builds it).
// cos/sin are rounded to T (transformers casts them to the activation dtype before applying
// them); the rotation itself is fp32. Positions restart at 0 for each sequence of the batch.
//
// Unlike kernels/rotary.cuh (per-head [q_h | k_h | v_h] columns, equal head counts) the KV head
// count may be smaller than the query head count. `repeat_kv` writes each KV head once per query
// head of its group (K, V as [batch, heads, seq, d]) for attention engines without native GQA;
// otherwise K, V are [batch, kv_heads, seq, d].
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

struct GqaShape {
  int64_t heads = 0;     // query heads
  int64_t kv_heads = 0;  // divides heads
  int64_t head_dim = 0;  // even
};

// qkv: [batch, seq, (heads + 2·kv_heads)·d] T; inv_freq: [d/2] fp32 (device);
// q: [batch, heads, seq, d] T; k, v: [batch, repeat_kv ? heads : kv_heads, seq, d] T.
template <typename T>
absl::Status LaunchRotaryGqaSplit(const T* qkv, const float* inv_freq, T* q, T* k, T* v,
                                  int64_t batch, int64_t seq, const GqaShape& shape, bool repeat_kv,
                                  cudaStream_t stream);

// The decode step (docs/spec/model.md §12): one new row per sequence b at position
// t_b = positions[b] (device, each < cap). qkv: [batch, (heads + 2·kv_heads)·d] T;
// q: [batch, heads, d'] T; the rotated k and the v of KV head g go to row t_b of
// k_cache, v_cache [batch, kv_heads, cap, d'] T. Same arithmetic as LaunchRotaryGqaSplit.
// inv_freq nullptr: no rotation (a model without position encoding, NemotronH's attention).
// `layout` widens the stored heads to d' = cache_head_dim ≥ d with zero columns and scales q by
// q_scale after its rounding to T (the attention kernels' head dims; see
// cuda/nemotron_h/nemotron_h_device_weights.h AttentionKernelHeadDim).
struct KvAppendLayout {
  int64_t cache_head_dim = 0;  // d' (0: d)
  float q_scale = 1.f;
};
template <typename T>
absl::Status LaunchRotaryGqaKvAppend(const T* qkv, const float* inv_freq, const int32_t* positions,
                                     T* q, T* k_cache, T* v_cache, int64_t batch,
                                     const GqaShape& shape, int64_t cap, cudaStream_t stream,
                                     const KvAppendLayout& layout = {});

}  // namespace evo2::kernels
