// Causal softmax attention (docs/spec/model.md §8), flash-style: scores never leave the
// chip, online softmax with fp32 running max/sum, one pass over K and V per query tile.
//   out[b, t, h·d + i] = Σ_{τ≤t} softmax_τ(q_t·k_τ / √d) · v[τ, i]
// bf16: tensor-core kernel (mma.sync m16n8k16, fp32 accumulation; P rounded to bf16 for P·V as
// flash-attention does), d ∈ {16, 32, 64, 128}. fp32: a plain fp32 kernel (the checking path).
// Grouped-query attention (GQA, Ainslie et al. 2023; multi-query when kv_heads = 1): with
// heads = g·kv_heads, query head h reads KV head ⌊h / g⌋, natively (K and V are never repeated).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// bf16 kernel versions (kernels/NOTES.md): kMmaPipelined (v3, default) = ldmatrix fragments and
// K/V tiles double-buffered with cp.async; kMmaLdmatrix (v2) = the same without the double
// buffer, kept for A/B measurement and as a fallback (EVO2_CUDA_ATTENTION=v2).
enum class AttentionVariant { kMmaPipelined, kMmaLdmatrix };

// q: [batch, heads, seq, d] T; k, v: [batch, kv_heads, seq, d] T; out: [batch, seq, heads·d] T.
// InvalidArgument when kv_heads does not divide heads; Unimplemented for an uncompiled d.
template <typename T>
absl::Status LaunchCausalGqaAttention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                      int64_t heads, int64_t kv_heads, int64_t seq,
                                      int64_t head_dim, cudaStream_t stream,
                                      AttentionVariant variant = AttentionVariant::kMmaPipelined);

// Causal attention of a block of queries at an offset, for context parallelism
// (docs/parallelism.md §4: a rank's query chunk against the all-gathered keys and values):
//   queries at absolute positions q_offset … q_offset + q_len − 1; query row i sees keys
//   0 … q_offset + i. Keys past q_offset + q_len − 1 are never read (kv_len only sets the K/V
//   strides), so the full gathered K/V may be passed for any chunk.
// q: [batch, heads, q_len, d] T; k, v: [batch, kv_heads, kv_len, d] T with
// kv_len ≥ q_offset + q_len; out: [batch, q_len, heads·d] T. Same kernels, precision and head dims
// as LaunchCausalGqaAttention (which is the case q_offset = 0, kv_len = q_len). Batch rows share
// q_offset: a rank's two zigzag chunks (different offsets) are two calls, each with pointers
// offset to the chunk's rows.
template <typename T>
absl::Status LaunchCausalGqaAttentionAtOffset(
    const T* q, const T* k, const T* v, T* out, int64_t batch, int64_t heads, int64_t kv_heads,
    int64_t q_len, int64_t kv_len, int64_t q_offset, int64_t head_dim, cudaStream_t stream,
    AttentionVariant variant = AttentionVariant::kMmaPipelined);

// Multi-head attention: LaunchCausalGqaAttention with kv_heads = heads.
// q, k, v: [batch, heads, seq, d] T; out: [batch, seq, heads·d] T.
template <typename T>
absl::Status LaunchCausalAttention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                   int64_t heads, int64_t seq, int64_t head_dim,
                                   cudaStream_t stream,
                                   AttentionVariant variant = AttentionVariant::kMmaPipelined);

}  // namespace evo2::kernels
