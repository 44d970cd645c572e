#include "ops/linear.h"

#include <cblas.h>

namespace evo2::ops {

void Linear(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, int64_t out,
            const float* bias, float* y, int64_t ldy, bool accumulate) {
  if (rows <= 0 || out <= 0) return;
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = y + r * ldy;
      if (accumulate) {
        for (int64_t o = 0; o < out; ++o) yr[o] += bias[o];
      } else {
        for (int64_t o = 0; o < out; ++o) yr[o] = bias[o];
      }
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
              static_cast<blasint>(out), static_cast<blasint>(in), 1.0f, x,
              static_cast<blasint>(ldx), w, static_cast<blasint>(in), beta, y,
              static_cast<blasint>(ldy));
}

void SetBlasThreads(int threads) { openblas_set_num_threads(threads); }

}  // namespace evo2::ops
