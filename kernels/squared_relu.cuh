// Squared ReLU in place (the NemotronH MLP's activation, `mlp_hidden_act: relu2`;
// golden/m_hybrid_a/README.md "MLP mixer"):  v[i] = max(v[i], 0)².  fp32 arithmetic, one
// rounding to T.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// v: [n] T (device), contiguous.
template <typename T>
absl::Status LaunchSquaredRelu(T* v, int64_t n, cudaStream_t stream);

}  // namespace evo2::kernels
