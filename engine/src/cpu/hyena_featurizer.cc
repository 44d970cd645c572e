#include "cpu/hyena_featurizer.h"

#include <vector>

#include "ops/vectorize.h"

namespace evo2::cpu {

namespace {

// Rows [begin, end): F for all 3H columns of each row into `f` (scratch [3H]), then split.
EVO2_VECTORIZE void FeaturizeRows(const float* P, int64_t begin, int64_t end, int64_t H,
                                  const float* w0, const float* w1, const float* w2, float* f,
                                  float* q, float* a) {
  const int64_t W = 3 * H;
  for (int64_t t = begin; t < end; ++t) {
    const float* p0 = P + t * W;  // current sample: tap 2 (conv order)
    for (int64_t j = 0; j < W; ++j) f[j] = w2[j] * p0[j];
    if (t >= 1) {
      const float* p1 = P + (t - 1) * W;
      for (int64_t j = 0; j < W; ++j) f[j] += w1[j] * p1[j];
    }
    if (t >= 2) {
      const float* p2 = P + (t - 2) * W;
      for (int64_t j = 0; j < W; ++j) f[j] += w0[j] * p2[j];
    }
    float* qt = q + t * H;
    float* at = a + t * H;
    for (int64_t c = 0; c < H; ++c) {
      qt[c] = f[3 * c];
      at[c] = f[3 * c + 1] * f[3 * c + 2];
    }
  }
}

}  // namespace

void HyenaFeaturize(const float* P, int64_t S, int64_t H, const float* taps, float* q, float* a,
                    ops::ThreadPool& pool) {
  const int64_t W = 3 * H;
  // Taps split by position so the column loops are unit-stride: w_k[j] = taps[j*3 + k].
  std::vector<float> w(static_cast<size_t>(3 * W));
  for (int64_t j = 0; j < W; ++j) {
    for (int k = 0; k < 3; ++k) w[k * W + j] = taps[j * 3 + k];
  }
  pool.ParallelFor(S, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> f(static_cast<size_t>(W));
    FeaturizeRows(P, begin, end, H, w.data(), w.data() + W, w.data() + 2 * W, f.data(), q, a);
  });
}

}  // namespace evo2::cpu
