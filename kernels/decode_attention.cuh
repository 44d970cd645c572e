// Single-query causal attention against a KV cache (docs/spec/model.md §8, §12): one new token
// per sequence, each sequence at its own position t_b.
//
// LaunchRotaryKvAppend: splits a Wqkv row [B, 3·heads·d] (per head [q_h | k_h | v_h], the
// checkpoint's row order), applies rotate-half rotary at t_b exactly as rotary.cuh does
// (θ = (t_b / scale)·f_i in fp32, cos/sin rounded to T), writes q [B, heads, d] and appends the
// rotated k and v at row t_b of the caches [B, heads, cap, d].
//
// LaunchDecodeAttention ("flash decoding"): the cache rows 0..t_b of each (b, h) split into
// segments of kDecodeKeysPerSplit keys, each segment's online-softmax partial (max, sum, Σp·v)
// computed by one block in fp32, then merged per (b, h):
//   out[b, h·d + i] = Σ_{τ≤t_b} softmax_τ(q·k_τ / √d) · v[τ, i]
// The grid covers `cap` (the cache's capacity), not t_b: segments past t_b exit at once, so one
// launch (and one captured CUDA graph) serves every position below cap.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

inline constexpr int64_t kDecodeKeysPerSplit = 256;

// qkv: [B, 3·heads·d] T; inv_freq: [d/2] fp32; positions: [B] int32 (device), each < cap;
// q: [B, heads, d] T; k_cache, v_cache: [B, heads, cap, d] T.
template <typename T>
absl::Status LaunchRotaryKvAppend(const T* qkv, const float* inv_freq, float position_scale,
                                  const int32_t* positions, T* q, T* k_cache, T* v_cache,
                                  int64_t batch, int64_t heads, int64_t head_dim, int64_t cap,
                                  cudaStream_t stream);

// fp32 scratch LaunchDecodeAttention needs.
size_t DecodeAttentionWorkspaceBytes(int64_t batch, int64_t heads, int64_t head_dim, int64_t cap);

// Grouped-query form: caches [B, kv_heads, cap, d] T, query head h reads KV head
// h / (heads / kv_heads) (kv_heads divides heads); the workspace is sized by the query heads.
template <typename T>
absl::Status LaunchDecodeAttentionGqa(const T* q, const T* k_cache, const T* v_cache,
                                      const int32_t* positions, T* out, void* workspace,
                                      size_t workspace_bytes, int64_t batch, int64_t heads,
                                      int64_t kv_heads, int64_t head_dim, int64_t cap,
                                      cudaStream_t stream);

// q: [B, heads, d] T; caches [B, heads, cap, d] T; out: [B, heads·d] T. d ≤ 256.
template <typename T>
absl::Status LaunchDecodeAttention(const T* q, const T* k_cache, const T* v_cache,
                                   const int32_t* positions, T* out, void* workspace,
                                   size_t workspace_bytes, int64_t batch, int64_t heads,
                                   int64_t head_dim, int64_t cap, cudaStream_t stream);

}  // namespace evo2::kernels
