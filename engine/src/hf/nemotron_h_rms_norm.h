// The Mamba mixer's gated, grouped RMSNorm (golden/m_hybrid_a/README.md step 7,
// `norm_before_gate=False`; the plain RMSNorm with ε inside the root is hf/hf_ops.h):
//   v = y ⊙ SiLU(z);  each group of `group_size` consecutive channels: v / sqrt(mean(v²) + ε);  ⊙ w
#pragma once

#include <cstdint>

namespace evo2::hf {

// One row: y, z [width] (y is overwritten with the result), weight [width];
// width = groups · group_size.
void GatedGroupRmsNormRow(float* y, const float* z, int64_t width, int64_t group_size,
                          const float* weight, float eps);

}  // namespace evo2::hf
