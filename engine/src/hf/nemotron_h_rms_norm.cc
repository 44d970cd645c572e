#include "hf/nemotron_h_rms_norm.h"

#include <cmath>

namespace evo2::hf {

namespace {

// 1 / sqrt(mean(x²) + ε); the sum of squares in double (no cancellation, but long rows).
float InvRms(const float* x, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
}

}  // namespace

void HfRmsNorm(const float* x, int64_t S, int64_t H, const float* weight, float eps, float* y,
               cpu::ThreadPool& pool) {
  pool.ParallelFor(S, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* xr = x + t * H;
      float* yr = y + t * H;
      const float inv = InvRms(xr, H, eps);
      for (int64_t c = 0; c < H; ++c) yr[c] = weight[c] * (xr[c] * inv);
    }
  });
}

void GatedGroupRmsNormRow(float* y, const float* z, int64_t width, int64_t group_size,
                          const float* weight, float eps) {
  for (int64_t c = 0; c < width; ++c) y[c] *= z[c] / (1.0f + std::exp(-z[c]));  // y ⊙ SiLU(z)
  for (int64_t g0 = 0; g0 < width; g0 += group_size) {
    const float inv = InvRms(y + g0, group_size, eps);
    for (int64_t c = g0; c < g0 + group_size; ++c) y[c] = weight[c] * (y[c] * inv);
  }
}

}  // namespace evo2::hf
