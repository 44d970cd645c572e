// RMSNorm with the reference's ε placement (spec evo2-architecture.md §5), optionally preceded by
// a bias add on the residual stream:
//   if bias: x[r, :] = round_T(x[r, :] + bias)            (written back; the mixer's out bias)
//   y[r, :] = scale ⊙ x[r, :] / (‖x[r, :]‖₂ / √H + eps)     (fp32 sum of squares)
// Folding the out-projection bias into the next norm saves one pass over [rows, H].
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// x, y: [rows, H] T (x in/out when bias != nullptr); scale, bias: [H] T. y must not alias x.
template <typename T>
absl::Status LaunchRmsNorm(T* x, const T* bias, const T* scale, T* y, int64_t rows, int64_t hidden,
                           float eps, cudaStream_t stream);

}  // namespace evo2::kernels
