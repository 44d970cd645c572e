#include "hf/nemotron_h_rms_norm.h"

#include <cmath>

#include "hf/hf_ops.h"

namespace evo2::hf {

void GatedGroupRmsNormRow(float* y, const float* z, int64_t width, int64_t group_size,
                          const float* weight, float eps) {
  for (int64_t c = 0; c < width; ++c) y[c] *= z[c] / (1.0f + std::exp(-z[c]));  // y ⊙ SiLU(z)
  for (int64_t g0 = 0; g0 < width; g0 += group_size) {
    const float inv = HfInvRms(y + g0, group_size, eps);
    for (int64_t c = g0; c < g0 + group_size; ++c) y[c] = weight[c] * (y[c] * inv);
  }
}

}  // namespace evo2::hf
