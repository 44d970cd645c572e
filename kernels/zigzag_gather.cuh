// Zigzag context parallelism (docs/parallelism.md §2, §4): rank r of CP holds sequence chunks r
// and 2CP−1−r. After an all-gather of the ranks' keys (or values), the blocks arrive rank-major;
// attention wants them in natural order. This kernel is that permutation (a copy, exact):
//   natural[h, k·Lc + t, :] = gathered[owner(k), slot(k), h, t, :]
//   owner(k) = k, slot 0 for k < CP;   owner(k) = 2CP−1−k, slot 1 for k ≥ CP.
// gathered: [cp, 2, heads, Lc, d] T (each rank's two chunks as a batch of 2, head-major, as the
// rank's K/V [2, heads, Lc, d] buffer); natural: [heads, 2CP·Lc, d] T (LaunchCausalGqaAttention-
// AtOffset's K/V with batch 1 and kv_len = 2CP·Lc). 16-byte copies when rows and pointers allow,
// element copies otherwise. T: float or __nv_bfloat16.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

template <typename T>
absl::Status LaunchZigzagToNatural(const T* gathered, T* natural, int64_t cp, int64_t heads,
                                   int64_t chunk_len, int64_t head_dim, cudaStream_t stream);

}  // namespace evo2::kernels
