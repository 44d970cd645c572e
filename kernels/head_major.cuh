// Gathers attention heads from a row-major projection into the head-major layout of the
// attention kernel (kernels/attention.cuh), repeating each source head when there are fewer
// source heads than destination heads (grouped-query attention's K/V):
//   dst[b, h, t, i] = src[b·seq + t, (h / (dst_heads / src_heads))·d + i]
// Heads are contiguous blocks of d columns of src. A pure copy (no arithmetic).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// src: [batch·seq, ld_src] T (src_heads·d columns used); dst: [batch, dst_heads, seq, d] T.
// dst_heads must be a multiple of src_heads.
template <typename T>
absl::Status LaunchToHeadMajor(const T* src, int64_t ld_src, int64_t src_heads, T* dst,
                               int64_t dst_heads, int64_t batch, int64_t seq, int64_t head_dim,
                               cudaStream_t stream);

}  // namespace evo2::kernels
