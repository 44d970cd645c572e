// The Hyena featurizer at one position (docs/spec/model.md §7 steps 2-3) for channel c of
// sequence b, with the 3-tap short filters' inputs P[t−2], P[t−1] from the tail ring and P[t]
// from `cur` (cur(r) = projection 3c + r at t, as T), which it then shifts into the ring:
//   q = round_T(f[3c]),  a = round_T(round_T(f[3c+1]) · round_T(f[3c+2])),
//   f[j] = w[j,0]·P[t−2, j] + w[j,1]·P[t−1, j] + w[j,2]·P[t, j]   (conv order, fp32)
// The decode step kernels (hyena_step.cu, decode_program.cu) share it; the expression is the
// parallel featurizer's (hyena_featurizer.cu), so the compiler contracts it the same way.
// tail [B, 2, 3H] T: slot τ mod 2 holds P[τ].
#pragma once

#include <cstdint>

#include "kernels/element.cuh"

namespace evo2::kernels {

template <typename T, typename Cur>
__device__ __forceinline__ void FeaturizeStep(Cur cur, const float* __restrict__ taps,
                                              T* __restrict__ tail, int64_t b, int c, int hidden,
                                              int t, float& q, float& a) {
  const int64_t width = 3 * static_cast<int64_t>(hidden);
  T* slot_prev2 = tail + (b * 2 + (t & 1)) * width + 3 * c;              // P[t−2], then P[t]
  const T* slot_prev1 = tail + (b * 2 + ((t + 1) & 1)) * width + 3 * c;  // P[t−1]
  float f[3];
#pragma unroll
  for (int r = 0; r < 3; ++r) {
    const float* w = taps + (3 * c + r) * 3;
    const T cur_t = cur(r);
    const float prev2 = ToFloat(slot_prev2[r]), prev1 = ToFloat(slot_prev1[r]);
    const float p = ToFloat(cur_t);
    f[r] = w[0] * prev2 + w[1] * prev1 + w[2] * p;
    slot_prev2[r] = cur_t;
  }
  q = Round<T>(f[0]);
  a = Round<T>(Round<T>(f[1]) * Round<T>(f[2]));
}

}  // namespace evo2::kernels
