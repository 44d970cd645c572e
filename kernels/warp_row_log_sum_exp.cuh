// One warp's log Σ_j exp(x[j]) over a row of fp32 logits, max-subtracted so large logits do not
// overflow. Shared by the full-vocabulary log-softmax gather and its vocab-parallel shard form, so
// both reduce a row in the same order and agree bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

namespace evo2::kernels {

struct WarpRowMaxSum {
  float max;      // max_j x[j]
  float sum_exp;  // Σ_j exp(x[j] − max)
};

// Every lane of the warp calls this with its lane index; every lane gets the row's result.
__device__ __forceinline__ WarpRowMaxSum WarpRowMaxAndSumExp(const float* __restrict__ x, int vocab,
                                                             int lane) {
  float m = -INFINITY;
  for (int j = lane; j < vocab; j += 32) m = fmaxf(m, x[j]);
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  float sum = 0.f;
  for (int j = lane; j < vocab; j += 32) sum += expf(x[j] - m);
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  return {m, sum};
}

}  // namespace evo2::kernels
