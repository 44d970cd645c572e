#include "ops/fp8.h"

#include <cmath>

#include "ops/linear.h"

namespace evo2::ops {

float RoundToE4M3(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  if (a >= kE4M3Max) return std::copysign(kE4M3Max, x);
  if (a == 0.0f) return x;
  // The spacing of E4M3 values around a: 2^(e-3) for a in [2^e, 2^(e+1)), e >= -6; below 2^-6
  // the subnormals keep the spacing 2^-9.
  int e = std::ilogb(a);
  if (e < -6) e = -6;
  const float quantum = std::ldexp(1.0f, e - 3);
  // a / quantum is exact (a power-of-two divisor); nearbyint rounds half to even.
  const float r = std::nearbyint(a / quantum) * quantum;
  return std::copysign(r > kE4M3Max ? kE4M3Max : r, x);
}

float E4M3ScaleForAmax(float amax) {
  if (!(amax > 0.0f) || !std::isfinite(amax)) return 1.0f;
  return kE4M3Max / amax;
}

Fp8Matrix QuantizeMatrixE4M3(const float* w, int64_t out, int64_t in, float scale) {
  Fp8Matrix m;
  m.out = out;
  m.in = in;
  const int64_t n = out * in;
  float s = scale;
  if (!(s > 0.0f)) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(w[i]));
    s = E4M3ScaleForAmax(amax);
  }
  m.inv_scale = 1.0f / s;
  m.q.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) m.q[i] = RoundToE4M3(w[i] * s);
  return m;
}

void QuantizeRowsE4M3(const float* x, int64_t rows, int64_t cols, int64_t ldx, float* q,
                      float* inv_scale, float fixed_scale) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * ldx;
    float s = fixed_scale;
    if (!(s > 0.0f)) {
      float amax = 0.0f;
      for (int64_t k = 0; k < cols; ++k) amax = std::fmax(amax, std::fabs(xr[k]));
      s = E4M3ScaleForAmax(amax);
    }
    inv_scale[t] = 1.0f / s;
    float* qr = q + t * cols;
    for (int64_t k = 0; k < cols; ++k) qr[k] = RoundToE4M3(xr[k] * s);
  }
}

void Fp8Linear(const float* x, int64_t rows, int64_t ldx, const Fp8Matrix& w, const float* bias,
               float* y, int64_t ldy, bool accumulate, std::vector<float>& scratch) {
  if (rows <= 0 || w.out <= 0) return;
  const int64_t in = w.in, out = w.out;
  scratch.resize(static_cast<size_t>(rows * in + rows + rows * out));
  float* q = scratch.data();
  float* inv_x = q + rows * in;
  float* acc = inv_x + rows;
  QuantizeRowsE4M3(x, rows, in, ldx, q, inv_x, w.input_scale);
  Linear(q, rows, in, in, w.q.data(), out, nullptr, acc, out);
  for (int64_t t = 0; t < rows; ++t) {
    const float m = inv_x[t] * w.inv_scale;
    float* yr = y + t * ldy;
    const float* ar = acc + t * out;
    for (int64_t o = 0; o < out; ++o) {
      float v = m * ar[o];
      if (bias != nullptr) v += bias[o];
      yr[o] = accumulate ? yr[o] + v : v;
    }
  }
}

}  // namespace evo2::ops
