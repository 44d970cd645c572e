// RMSNorm with the reference's ε placement (docs/spec/model.md §5), optionally preceded by
// a bias add on the residual stream. The residual stream x is fp32 in every mode: the reference
// keeps it in bf16, but rounding the stream to bf16 after each of 2N residual additions is the
// largest systematic error of a bf16 forward (small branch updates are swamped), and an fp32
// stream costs only 2 extra bytes per element on the norms' reads.
//   if bias: x[r, :] = x[r, :] + bias                     (written back; the mixer's out bias)
//   y[r, :] = scale ⊙ x[r, :] / (‖x[r, :]‖₂ / √H + eps)     (fp32 sum of squares)
// Folding the out-projection bias into the next norm saves one pass over [rows, H].
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/fp8_quantize.cuh"

namespace evo2::kernels {

// x: [rows, H] fp32 (in/out when bias != nullptr); y: [rows, H] T; scale, bias: [H] T.
template <typename T>
absl::Status LaunchRmsNorm(float* x, const T* bias, const T* scale, T* y, int64_t rows, int64_t hidden,
                           float eps, cudaStream_t stream);

// The same norm with its output quantised for the FP8 linear that reads it (docs/spec/fp8.md):
// codes and scales bit-identical to LaunchRmsNorm followed by LaunchQuantizeRowsE4M3(y, …,
// e4m3.fixed_scale), in one pass (the row's amax is taken over the T-rounded outputs the kernel
// already holds). y [rows, H] T is written too unless null — the forward passes null where
// nothing else reads the norm output. e4m3.ldq >= H, any alignment. The kernel (and so the order
// of the sum of squares) is chosen as LaunchRmsNorm chooses it, a null y counting as aligned.
template <typename T>
absl::Status LaunchRmsNormE4M3(float* x, const T* bias, const T* scale, T* y,
                               const E4M3RowsOut& e4m3, int64_t rows, int64_t hidden, float eps,
                               cudaStream_t stream);

}  // namespace evo2::kernels
