// RMSNorm as Zhang & Sennrich (2019) and the HuggingFace models (Llama, NemotronH) define it,
// with ε INSIDE the square root:
//   y[r, :] = scale ⊙ x[r, :] · 1/sqrt(mean_j x[r, j]² + eps)     (fp32 sum of squares)
// (kernels/rms_norm.cuh is the other convention, ε added to the RMS, which Evo 2 uses.)
// The input is the fp32 residual stream; the output is rounded once to T.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// x: [rows, H] fp32; scale: [H] T; y: [rows, H] T (may not alias x).
template <typename T>
absl::Status LaunchRmsNormEpsInside(const float* x, const T* scale, T* y, int64_t rows,
                                    int64_t hidden, float eps, cudaStream_t stream);

}  // namespace evo2::kernels
