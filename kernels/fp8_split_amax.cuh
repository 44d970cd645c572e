// FP8 E4M3 quantisation of rows whose columns are split over several devices (docs/spec/fp8.md
// "Scaling", a tensor-parallel row-parallel linear's input: each rank holds a block of columns of
// every row). The scale rule is the one of kernels/fp8_quantize.cuh (e4m3.cuh) applied to the
// WHOLE row, whose amax is the max of the parts' amaxes (max is exact, so the codes and scales are
// bit-identical to quantising the whole row on one device):
//   amax_p[t] = max_k |x_p[t, k]|          (LaunchRowAmax, on each part)
//   amax[t]   = max_p amax_p[t]            (the parts' amaxes gathered: [parts, rows])
//   s_t = 448 / amax[t] (1 when 0 or not finite), q = E4M3(x·s_t), inv[t] = 1/s_t
// and the max |w| of a tensor split the same way (a weight's per-tensor scale).
// T: float or __nv_bfloat16. NaN inputs are skipped by the max, as in fp8_quantize.cuh.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// x [rows, cols] (row stride ldx) -> amax [rows] fp32.
template <typename T>
absl::Status LaunchRowAmax(const T* x, int64_t rows, int64_t cols, int64_t ldx, float* amax,
                           cudaStream_t stream);

// x [rows, cols] (row stride ldx), amax_parts [parts, rows] fp32 -> q [rows, ldq] codes
// (columns cols..ldq-1 zero), inv_scale [rows] = 1/s_t.
template <typename T>
absl::Status LaunchQuantizeRowsE4M3WithAmax(const T* x, int64_t rows, int64_t cols, int64_t ldx,
                                            const float* amax_parts, int parts, uint8_t* q,
                                            int64_t ldq, float* inv_scale, cudaStream_t stream);

// w [n] -> amax [1] fp32 = max |w| (0 for n = 0).
template <typename T>
absl::Status LaunchTensorAmax(const T* w, int64_t n, float* amax, cudaStream_t stream);

}  // namespace evo2::kernels
