// Internal to kernels/: the tensor-core form of the 128-tap grouped FIR + gate (hyena_fir.cuh's
// function, bf16, 16 channels per filter group — Evo 2 7B and 40B). LaunchHyenaFirGate dispatches
// here when the shape fits (HyenaFirMmaSupports).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

bool HyenaFirMmaSupports(int64_t hidden, int64_t groups, int64_t taps_per_filter);

absl::Status LaunchHyenaFirGateMma(const __nv_bfloat16* q, const __nv_bfloat16* a,
                                   const float* taps, const float* skip_d, __nv_bfloat16* o,
                                   int64_t batch, int64_t seq, int64_t hidden,
                                   cudaStream_t stream);

}  // namespace evo2::kernels
