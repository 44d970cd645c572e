// Rotary position embedding (docs/spec/model.md §8): rotate-half (NeoX) style over the
// full head dim, element i < d/2 paired with i + d/2:
//   (a, b) → (a·cos θ − b·sin θ, a·sin θ + b·cos θ),   θ_{t,i} = (t / s) · f_i
// with the checkpoint's stored inverse frequencies f (inv_freq [d/2]) and the position
// interpolation factor s (1 = none). The angle is formed exactly as vortex does, in fp32:
// fp32(t) / fp32(s) rounded to fp32, times f_i rounded to fp32; its cos/sin are then taken
// accurately. At long positions that fp32 rounding of the angle (≈ half an ulp of the angle)
// is much larger than any other fp32 noise, so matching it matters (docs/spec/model.md §8).
#pragma once

#include <cstdint>
#include <vector>

namespace evo2::ops {

struct RotaryTable {
  int64_t positions = 0;
  int64_t half_dim = 0;    // d / 2
  std::vector<float> cos;  // [positions, d/2]
  std::vector<float> sin;  // [positions, d/2]
};

RotaryTable MakeRotaryTable(const float* inv_freq, int64_t half_dim, int64_t positions,
                            double position_scale);

// Megatron's inverse frequencies, for checkpoints without a stored inv_freq (NeMo2):
// 1 / base^(2i/d) in fp32 (docs/spec/checkpoints.md §7: bit-identical to vortex's stored values).
std::vector<float> DefaultInvFreq(double base, int64_t head_dim);

// Rotates one head in place for positions first_position..first_position+S-1: x [S, d] with row
// stride ld. The table covers those positions.
void ApplyRotary(float* x, int64_t S, int64_t ld, const RotaryTable& table,
                 int64_t first_position = 0);

// cos/sin [d/2] of one position, bit-identical to that row of MakeRotaryTable: what a cached
// decode step needs without a table as long as the sequence.
void RotaryRow(const float* inv_freq, int64_t half_dim, int64_t position, double position_scale,
               float* cos, float* sin);

// Rotates one head vector x [d] for one position with a RotaryRow's cos/sin.
void ApplyRotaryRow(float* x, const float* cos, const float* sin, int64_t half_dim);

}  // namespace evo2::ops
