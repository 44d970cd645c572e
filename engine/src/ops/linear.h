// Dense layers through OpenBLAS: y = x·Wᵀ (+ b), PyTorch `Linear` convention (W is [out, in]).
#pragma once

#include <cstdint>

namespace evo2::ops {

// x [rows, in] (row stride ldx), W [out, in] row-major, bias [out] or nullptr,
// y [rows, out] (row stride ldy). Accumulates into y when `accumulate` (y += x·Wᵀ + b).
void Linear(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, int64_t out,
            const float* bias, float* y, int64_t ldy, bool accumulate = false);

// Sets OpenBLAS's thread count (process-wide; OpenBLAS has no per-call setting).
void SetBlasThreads(int threads);

}  // namespace evo2::ops
