#include "cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/fast_exp.h"

namespace evo2::cpu {

namespace {

// Query rows per block: the score block [kQueryBlock, S] stays a few MB at S = 8192.
constexpr int64_t kQueryBlock = 128;

}  // namespace

void CausalAttention(float* qkv, int64_t S, int64_t heads, int64_t d, const RotaryTable& rotary,
                     float* out, ThreadPool& pool) {
  const int64_t ld = 3 * heads * d;
  const int64_t H = heads * d;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  // Rotary on q and k of every head (positions 0..S-1).
  pool.ParallelFor(heads * 2, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t head = i / 2, which = i % 2;
      ApplyRotary(qkv + head * 3 * d + which * d, S, ld, rotary);
    }
  });
  std::vector<float> scores(static_cast<size_t>(std::min(S, kQueryBlock) * S));
  for (int64_t head = 0; head < heads; ++head) {
    const float* q = qkv + head * 3 * d;
    const float* k = q + d;
    const float* v = q + 2 * d;
    for (int64_t i0 = 0; i0 < S; i0 += kQueryBlock) {
      const int64_t rows = std::min(kQueryBlock, S - i0);
      const int64_t keys = i0 + rows;  // causal: the last row of the block sees keys [0, i0+rows)
      // scores[r, j] = scale · q[i0+r] · k[j]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(keys), static_cast<blasint>(d), scale, q + i0 * ld,
                  static_cast<blasint>(ld), k, static_cast<blasint>(ld), 0.0f, scores.data(),
                  static_cast<blasint>(keys));
      pool.ParallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          float* row = scores.data() + r * keys;
          const int64_t valid = i0 + r + 1;  // keys 0..i0+r
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < valid; ++j) mx = std::max(mx, row[j]);
          for (int64_t j = 0; j < valid; ++j) row[j] = FastExp(row[j] - mx);
          double sum = 0;
          for (int64_t j = 0; j < valid; ++j) sum += row[j];
          const float inv = static_cast<float>(1.0 / sum);
          for (int64_t j = 0; j < valid; ++j) row[j] *= inv;
          std::fill(row + valid, row + keys, 0.0f);
        }
      });
      // out[i0+r, head·d + i] = Σ_j P[r, j] · v[j, i]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(d), static_cast<blasint>(keys), 1.0f, scores.data(),
                  static_cast<blasint>(keys), v, static_cast<blasint>(ld), 0.0f,
                  out + i0 * H + head * d, static_cast<blasint>(H));
    }
  }
}

}  // namespace evo2::cpu
