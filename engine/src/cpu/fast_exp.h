// exp(x) for float arrays that the compiler can vectorise (no libm call, no branches):
// Cody–Waite range reduction x = n·ln2 + r, a degree-6 polynomial for e^r on |r| ≤ ln2/2
// (Cephes expf coefficients), then 2^n through the exponent bits. Max relative error ≈ 2 ulp
// over [-87, 88]; inputs below -87.3 give 0 (softmax of masked scores), above 88.7 give +inf-ish
// large values (callers subtract the row max first so they never pass x > 0).
#pragma once

#include <cstdint>
#include <cstring>

namespace evo2::cpu {

inline float FastExp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float fn = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t e = (static_cast<int32_t>(fn) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// y[i] = exp(x[i]) for n values (x and y may alias).
inline void FastExpArray(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = FastExp(x[i]);
}

}  // namespace evo2::cpu
