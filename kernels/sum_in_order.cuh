// Element-wise sum of several device arrays formed in a fixed order:
//   out[i] = (…((in[0][i] + in[1][i]) + in[2][i]) + …) + in[n−1][i]
// with plain fp32 additions (no contraction, no reassociation), so the result is bit-identical to
// a host loop adding in the same order. An in-process all-reduce uses it with the ranks' buffers
// in rank order, which makes every rank's result, and the host's rank-order sum, agree exactly.
//
// The inputs may live on other GPUs when peer access is enabled (unified addressing); `out` may
// alias in[0] (each element is read before it is written, by the same thread), no other input.
// Refuses n < 1, count < 0 and null pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// inputs: host array of n pointers, each to [count] fp32 on the device; out: [count] fp32.
// (A pointer and a count rather than std::span: kernels/ compiles as C++17.)
absl::Status LaunchSumInOrder(const float* const* inputs, int n, float* out, int64_t count,
                              cudaStream_t stream);

}  // namespace evo2::kernels
