// FP8 E4M3 GEMMs as the engine defines them (docs/spec/fp8.md): the exact arithmetic the CUDA
// backend's cuBLASLt FP8 path performs, in fp32 on the CPU, so that it is the reference the GPU
// is tested against.
//
// E4M3 ("e4m3fn"): 1 sign, 4 exponent (bias 7) and 3 mantissa bits, no infinities, largest
// finite value 448, smallest subnormal 2^-9. Conversion rounds to nearest even and saturates to
// ±448 (the CUDA __NV_SATFINITE conversion Transformer Engine uses).
//
// Scaling: weights per tensor, activations per row (token):
//   s_w = 448 / amax(W),  s_t = 448 / amax(x_t)       (1 when the amax is 0 or not finite)
//   Y[t, o] = (1/s_t · 1/s_w) · Σ_k E4M3(x_t,k · s_t) · E4M3(W_o,k · s_w)
// with the products summed in fp32 and the two inverse scales multiplied in fp32 first.
// Where the checkpoint stores Transformer Engine scales for the linear, s_w and every s_t are
// those fixed values instead (docs/spec/fp8.md, "Stored scales").
#pragma once

#include <cstdint>
#include <vector>

namespace evo2::ops {

inline constexpr float kE4M3Max = 448.0f;

// Round-to-nearest-even into E4M3, saturating; NaN stays NaN.
float RoundToE4M3(float x);
// 448 / amax, or 1 when amax is 0, negative or not finite.
float E4M3ScaleForAmax(float amax);

// A weight [out, in] quantised once: q holds the E4M3 values (as floats) of W·s_w.
struct Fp8Matrix {
  std::vector<float> q;  // [out, in]
  float inv_scale = 1.0f;
  // The stored input scale s_x that every row of this linear's input uses; 0: per-row s_t from
  // the row's current amax.
  float input_scale = 0.0f;
  int64_t out = 0, in = 0;
  bool empty() const { return q.empty(); }
};

// `scale` > 0: the stored s_w; 0: 448 / amax(W).
Fp8Matrix QuantizeMatrixE4M3(const float* w, int64_t out, int64_t in, float scale = 0.0f);

// Per-row quantisation of x [rows, cols] (row stride ldx) into q [rows, cols] (contiguous);
// inv_scale[t] = 1/s_t. `fixed_scale` > 0: s_t = fixed_scale for every row.
void QuantizeRowsE4M3(const float* x, int64_t rows, int64_t cols, int64_t ldx, float* q,
                      float* inv_scale, float fixed_scale = 0.0f);

// y [rows, out] (row stride ldy) = FP8 GEMM of x [rows, in] with w (+ bias), accumulating into y
// when `accumulate`. `scratch` is resized to hold the quantised x, its scales and the product.
void Fp8Linear(const float* x, int64_t rows, int64_t ldx, const Fp8Matrix& w, const float* bias,
               float* y, int64_t ldy, bool accumulate, std::vector<float>& scratch);

}  // namespace evo2::ops
