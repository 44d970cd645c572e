// Matrix product for a few rows (the decoder's [B, ·] GEMMs at small B), weight-streaming:
//   y[r, o] = Σ_k x[r, k] · w[o, k]  (+ y[r, o] when accumulate)      r < rows ≤ 8, fp32 sums
// x [rows, K] T (leading dimension ldx), w [O, K] T contiguous (a PyTorch Linear weight),
// y [rows, O] Out (T, or fp32 for the residual stream and the logits).
// At a handful of rows a GEMM is a pass over the weights (2·O·K bytes against 2·rows·O·K FLOPs),
// so the kernel is written for bandwidth: one warp per output row o, 16-byte loads of w kept in
// flight four deep per lane, x read through the L1 (it is rows·K·2 bytes, shared by every warp),
// a warp reduction per row. Needs K and ldx multiples of 16 bytes of T and 16-byte aligned x and
// w; other shapes are refused with UNIMPLEMENTED (the caller uses cuBLAS).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

inline constexpr int64_t kSkinnyGemmMaxRows = 8;

template <typename T, typename Out>
absl::Status LaunchSkinnyGemm(const T* x, int64_t ldx, const T* w, Out* y, int64_t ldy,
                              int64_t rows, int64_t in, int64_t out, bool accumulate,
                              cudaStream_t stream);

}  // namespace evo2::kernels
