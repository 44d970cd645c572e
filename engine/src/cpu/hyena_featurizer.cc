#include "cpu/hyena_featurizer.h"

namespace evo2::cpu {

void HyenaFeaturize(const float* P, int64_t S, int64_t H, const float* taps, float* q, float* a,
                    ThreadPool& pool) {
  const int64_t W = 3 * H;
  pool.ParallelFor(S, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* p0 = P + t * W;                          // current sample
      const float* p1 = t >= 1 ? P + (t - 1) * W : nullptr;  // t-1
      const float* p2 = t >= 2 ? P + (t - 2) * W : nullptr;  // t-2
      float* qt = q + t * H;
      float* at = a + t * H;
      for (int64_t c = 0; c < H; ++c) {
        float f[3];
        for (int r = 0; r < 3; ++r) {
          const int64_t j = 3 * c + r;
          const float* w = taps + j * 3;
          float acc = w[2] * p0[j];
          if (p1) acc += w[1] * p1[j];
          if (p2) acc += w[0] * p2[j];
          f[r] = acc;
        }
        qt[c] = f[0];
        at[c] = f[1] * f[2];
      }
    }
  });
}

}  // namespace evo2::cpu
