// Hyena featurizer (docs/spec/model.md §7 steps 2-4), fused: the 3-tap causal conv on all
// 3H interleaved projection columns, the de-interleave and the pre-gate, in one pass over P:
//   F[t, j] = w[j,0]·P[t-2, j] + w[j,1]·P[t-1, j] + w[j,2]·P[t, j]    (conv order, fp32)
//   q[t, c] = F[t, 3c],  a[t, c] = round_T(F[t, 3c+1]) · round_T(F[t, 3c+2])
// (the reference rounds the conv output to the activation dtype before k ⊙ v, §10).
// Each sequence of the batch has its own zero history.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// proj: [batch, seq, 3H] T; taps: [3H, 3] fp32 (short_filter_weight); q, a: [batch, seq, H] T.
template <typename T>
absl::Status LaunchHyenaFeaturizer(const T* proj, const float* taps, T* q, T* a, int64_t batch,
                                   int64_t seq, int64_t hidden, cudaStream_t stream);

}  // namespace evo2::kernels
