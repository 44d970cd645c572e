// Element-type conversion on the device: out[i] = float(in[i]) (hidden states leave the GPU as
// fp32) and out[i] = round_T(in[i]) (weights arriving as fp32 for a bf16 run).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

template <typename From, typename To>
absl::Status LaunchConvert(const From* in, To* out, int64_t n, cudaStream_t stream);

}  // namespace evo2::kernels
