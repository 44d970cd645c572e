// RMSNorm as HuggingFace (and Megatron/TE) define it for the hybrid (golden/m_hybrid_a/README.md
// "Forward pass"): ε INSIDE the square root, unlike Evo 2's Hyena norm (cpu/rms_norm.h):
//   RMSNorm(x; w) = w ⊙ x / sqrt(mean_j x_j² + ε)
// and the Mamba mixer's gated, grouped form (step 7, `norm_before_gate=False`):
//   v = y ⊙ SiLU(z);  each group of `group_size` consecutive channels: v / sqrt(mean(v²) + ε);  ⊙ w
#pragma once

#include <cstdint>

#include "cpu/thread_pool.h"

namespace evo2::hf {

// x, y [S, H] row-major (may alias), weight [H].
void HfRmsNorm(const float* x, int64_t S, int64_t H, const float* weight, float eps, float* y,
               cpu::ThreadPool& pool);

// One row: y, z [width] (y is overwritten with the result), weight [width];
// width = groups · group_size.
void GatedGroupRmsNormRow(float* y, const float* z, int64_t width, int64_t group_size,
                          const float* weight, float eps);

}  // namespace evo2::hf
