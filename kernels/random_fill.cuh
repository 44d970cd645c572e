// Fills a device array with reproducible pseudo-random values, uniform in [lo, hi), from a
// counter-based hash of (seed, index): no RNG state, same values for any launch shape. Used to
// build random-weight models on the GPU (benchmarks) without a host round trip.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// data: [n] T (float or __nv_bfloat16).
template <typename T>
absl::Status LaunchFillUniform(T* data, int64_t n, float lo, float hi, uint64_t seed,
                               cudaStream_t stream);

}  // namespace evo2::kernels
