// Attention input preparation (docs/spec/model.md §8): split the Wqkv GEMM output, whose
// columns are per head [q_h | k_h | v_h] (checkpoint row order), into head-major Q, K, V and
// apply rotate-half rotary embedding to Q and K:
//   θ[t, i] = (t / scale) · f_i   (fp32, formed as vortex does),  i < d/2, pairs (i, i + d/2)
//   (x_i, x_{i+d/2}) → (x_i·cos θ − x_{i+d/2}·sin θ,  x_i·sin θ + x_{i+d/2}·cos θ)
// cos/sin are rounded to T (vortex rounds its tables to the activation dtype, §10); the rotation
// itself is fp32. Positions restart at 0 for each sequence of the batch, unless the rows sit at
// an offset (context parallelism, docs/parallelism.md §4: a rank's chunks at their absolute
// positions): row t of batch element b is at position first_position + b·position_stride + t.
// A rank holding zigzag chunks r and 2CP−1−r of Lc rows as a batch of 2 passes
// first_position = r·Lc, position_stride = (2CP−1−2r)·Lc.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// qkv: [batch, seq, 3·heads·d] T; inv_freq: [d/2] fp32; q, k, v: [batch, heads, seq, d] T.
// Positions are converted to fp32 (exact below 2^24, as for the whole-sequence call).
template <typename T>
absl::Status LaunchRotaryQkvSplit(const T* qkv, const float* inv_freq, float position_scale, T* q,
                                  T* k, T* v, int64_t batch, int64_t seq, int64_t heads,
                                  int64_t head_dim, cudaStream_t stream, int64_t first_position = 0,
                                  int64_t position_stride = 0);

}  // namespace evo2::kernels
