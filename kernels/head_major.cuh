// Gathers attention heads from a row-major projection into the head-major layout of the
// attention kernel (kernels/attention.cuh), repeating each source head when there are fewer
// source heads than destination heads (grouped-query attention's K/V), optionally widening each
// head with zeros to a head dim the attention kernel has and scaling it:
//   dst[b, h, t, i] = scale · src[b·seq + t, (h / (dst_heads / src_heads))·d + i]   (i < d)
//   dst[b, h, t, i] = 0                                                        (d ≤ i < d_dst)
// Heads are contiguous blocks of d columns of src. With scale = 1 a pure copy; otherwise one
// rounding to T of the fp32 product (exact when scale is a power of two).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// src: [batch·seq, ld_src] T (src_heads·d columns used); dst: [batch, dst_heads, seq, d_dst] T
// with d_dst = dst_head_dim (0: d). dst_heads must be a multiple of src_heads, d_dst ≥ d.
template <typename T>
absl::Status LaunchToHeadMajor(const T* src, int64_t ld_src, int64_t src_heads, T* dst,
                               int64_t dst_heads, int64_t batch, int64_t seq, int64_t head_dim,
                               cudaStream_t stream, int64_t dst_head_dim = 0, float scale = 1.f);

}  // namespace evo2::kernels
