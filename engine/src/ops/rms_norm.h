// RMSNorm as Evo 2 defines it (docs/spec/model.md §5):
//   y = s ⊙ x / (‖x‖₂ / √H + ε)
// per position over the H channels — ε is added to the RMS, OUTSIDE the square root, unlike the
// usual x / sqrt(mean(x²) + ε).
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace evo2::ops {

// x, y [S, H] row-major (may alias), scale [H].
void RmsNorm(const float* x, int64_t S, int64_t H, const float* scale, float eps, float* y,
             ThreadPool& pool);

// One row, for fused callers.
void RmsNormRow(const float* x, int64_t H, const float* scale, float eps, float* y);

}  // namespace evo2::ops
