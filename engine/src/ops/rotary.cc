#include "ops/rotary.h"

#include <cmath>

namespace evo2::ops {

RotaryTable MakeRotaryTable(const float* inv_freq, int64_t half_dim, int64_t positions,
                            double position_scale) {
  RotaryTable t;
  t.positions = positions;
  t.half_dim = half_dim;
  t.cos.resize(static_cast<size_t>(positions * half_dim));
  t.sin.resize(static_cast<size_t>(positions * half_dim));
  for (int64_t p = 0; p < positions; ++p) {
    RotaryRow(inv_freq, half_dim, p, position_scale, t.cos.data() + p * half_dim,
              t.sin.data() + p * half_dim);
  }
  return t;
}

void RotaryRow(const float* inv_freq, int64_t half_dim, int64_t position, double position_scale,
               float* cos, float* sin) {
  // vortex: t = arange(S, fp32); t = t / scaling_factor; freqs = outer(t, inv_freq) (fp32).
  float pos = static_cast<float>(position);
  if (position_scale != 1.0) pos = pos / static_cast<float>(position_scale);
  for (int64_t i = 0; i < half_dim; ++i) {
    const float angle = pos * inv_freq[i];
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void ApplyRotaryRow(float* x, const float* c, const float* s, int64_t h) {
  for (int64_t i = 0; i < h; ++i) {
    const float a = x[i];
    const float b = x[i + h];
    x[i] = a * c[i] - b * s[i];
    x[i + h] = a * s[i] + b * c[i];
  }
}

std::vector<float> DefaultInvFreq(double base, int64_t head_dim) {
  // Megatron: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=float32) / dim)), in fp32.
  std::vector<float> f(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float pw = std::pow(static_cast<float>(base), expo);
    f[i] = 1.0f / pw;
  }
  return f;
}

void ApplyRotary(float* x, int64_t S, int64_t ld, const RotaryTable& table,
                 int64_t first_position) {
  const int64_t h = table.half_dim;
  for (int64_t t = 0; t < S; ++t) {
    float* row = x + t * ld;
    const float* c = table.cos.data() + (first_position + t) * h;
    const float* s = table.sin.data() + (first_position + t) * h;
    for (int64_t i = 0; i < h; ++i) {
      const float a = row[i];
      const float b = row[i + h];
      row[i] = a * c[i] - b * s[i];
      row[i + h] = a * s[i] + b * c[i];
    }
  }
}

}  // namespace evo2::ops
