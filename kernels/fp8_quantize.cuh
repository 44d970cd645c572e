// Quantisation to FP8 E4M3 for the FP8 GEMMs (docs/spec/fp8.md), the device side of the
// engine's one scaling rule:
//   rows (activations): s_t = 448 / amax(x_t) per row, q[t,k] = E4M3(x[t,k]·s_t), inv[t] = 1/s_t
//   tensor (weights):   s   = 448 / amax(W) over the whole tensor, inv[o] = 1/s for every row o
// (s = 1 when the amax is 0 or not finite); a `fixed_scale` > 0 replaces s (the checkpoint's stored
// Transformer Engine scale, docs/spec/fp8.md "Stored scales"). E4M3 conversion: round to nearest
// even, saturate to ±448 (__NV_SATFINITE). Codes are stored as bytes, row-major with a leading
// dimension ldq ≥ cols; columns cols..ldq-1 are written as zeros (cuBLASLt wants K and the leading
// dimension to be multiples of 16, and zero columns add nothing to a dot product).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// Where a kernel that quantises its own output (rms_norm.cuh, mlp_gate.cuh: the quantisation fused
// into the kernel that produces an FP8 GEMM's input) writes it, with the same rule as
// LaunchQuantizeRowsE4M3 applied to the act-typed output that kernel would otherwise write:
// codes [rows, ldq] (columns past the row's width zero), inv_scale [rows] = 1/s_t.
struct E4M3RowsOut {
  uint8_t* codes = nullptr;
  int64_t ldq = 0;
  float* inv_scale = nullptr;
  float fixed_scale = 0.0f;  // > 0: the stored input scale for every row; else current scaling
};

// x [rows, cols] (row stride ldx) -> q [rows, ldq] codes, inv_scale [rows].
template <typename T>
absl::Status LaunchQuantizeRowsE4M3(const T* x, int64_t rows, int64_t cols, int64_t ldx, uint8_t* q,
                                    int64_t ldq, float* inv_scale, cudaStream_t stream,
                                    float fixed_scale = 0.0f);

// w [rows, cols] contiguous -> q [rows, ldq] codes, inv_scale [rows] (all equal). `amax_scratch`
// is one device float.
template <typename T>
absl::Status LaunchQuantizeTensorE4M3(const T* w, int64_t rows, int64_t cols, uint8_t* q,
                                      int64_t ldq, float* inv_scale, float* amax_scratch,
                                      cudaStream_t stream, float fixed_scale = 0.0f);

// The E4M3 code -> float (tests and debugging).
absl::Status LaunchDecodeE4M3(const uint8_t* q, int64_t n, float* out, cudaStream_t stream);

}  // namespace evo2::kernels
