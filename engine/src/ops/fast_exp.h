// exp(x) for float arrays that the compiler can vectorise (no libm call, no branches):
// Cody–Waite range reduction x = n·ln2 + r, a degree-6 polynomial for e^r on |r| ≤ ln2/2
// (Cephes expf coefficients), then 2^n through the exponent bits. Max relative error ≈ 2 ulp
// over [-87, 88]; inputs below -87.3 are clamped (e^-87.3 ≈ 1e-38, negligible next to the 1 of
// a softmax row maximum); callers subtract the row max first so they never pass x > 0.
#pragma once

#include <cstdint>
#include <cstring>

namespace evo2::ops {

inline float FastExp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  // floor(x·log2e + 0.5) without floorf (a libm call on baseline x86-64): truncate, then
  // step down for negative non-integers.
  const float t = x * 1.44269504088896341f + 0.5f;
  float fn = static_cast<float>(static_cast<int32_t>(t));
  fn = fn > t ? fn - 1.0f : fn;
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

}  // namespace evo2::ops

namespace evo2::ops {

// Eight lanes at a time with GCC vector extensions: the same operations as FastExp, so the
// results are bit-identical to it, but explicitly SIMD (the auto-vectoriser will not if-convert
// the float clamps without -ffast-math). Lowered to two SSE halves on baseline x86-64.
// The helpers are always inlined; a file using them disables -Wpsabi (see attention.cc).
typedef float V8f __attribute__((vector_size(32)));
typedef int32_t V8i __attribute__((vector_size(32)));

__attribute__((always_inline)) inline V8f Load8(const float* p) {
  V8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
__attribute__((always_inline)) inline void Store8(float* p, V8f v) {
  std::memcpy(p, &v, sizeof(v));
}

__attribute__((always_inline)) inline V8f FastExp8(V8f x) {
  const V8f lo = V8f{} - 87.3f, hi = V8f{} + 88.7f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const V8f t = x * 1.44269504088896341f + 0.5f;
  V8f fn = __builtin_convertvector(__builtin_convertvector(t, V8i), V8f);
  fn = fn > t ? fn - 1.0f : fn;
  V8f r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  const V8f r2 = r * r;
  V8f p = V8f{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const V8i e = (__builtin_convertvector(fn, V8i) + 127) << 23;
  return p * __builtin_bit_cast(V8f, e);
}

}  // namespace evo2::ops
