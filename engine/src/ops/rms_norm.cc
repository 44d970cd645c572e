#include "ops/rms_norm.h"

#include <cmath>

namespace evo2::ops {

void RmsNormRow(const float* x, int64_t H, const float* scale, float eps, float* y) {
  double ss = 0;  // sum of squares in double: H up to 8192, no cancellation but long sums
  for (int64_t c = 0; c < H; ++c) ss += static_cast<double>(x[c]) * x[c];
  const double rms = std::sqrt(ss) / std::sqrt(static_cast<double>(H));
  const float inv = static_cast<float>(1.0 / (rms + eps));
  for (int64_t c = 0; c < H; ++c) y[c] = scale[c] * (x[c] * inv);
}

void RmsNorm(const float* x, int64_t S, int64_t H, const float* scale, float eps, float* y,
             ThreadPool& pool) {
  pool.ParallelFor(S, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) RmsNormRow(x + t * H, H, scale, eps, y + t * H);
  });
}

}  // namespace evo2::ops
