#include "cpu/hyena_medium_filter.h"

#include <algorithm>

#include "ops/vectorize.h"

namespace evo2::cpu {

namespace {

EVO2_VECTORIZE void MediumFilterRows(const float* a, int64_t begin, int64_t end, int64_t H,
                                     const float* taps, int64_t K, const float* D, float* y) {
  for (int64_t t = begin; t < end; ++t) {
    float* yt = y + t * H;
    const float* a_now = a + t * H;
    for (int64_t c = 0; c < H; ++c) yt[c] = D[c] * a_now[c];
    const int64_t kmax = std::min<int64_t>(K - 1, t);
    for (int64_t k = 0; k <= kmax; ++k) {
      const float* at = a + (t - k) * H;
      const float* w = taps + k * H;
      for (int64_t c = 0; c < H; ++c) yt[c] += w[c] * at[c];
    }
  }
}

}  // namespace

void HyenaMediumFilter(const float* a, int64_t S, int64_t H, const float* taps, int64_t K,
                       const float* D, float* y, ops::ThreadPool& pool) {
  pool.ParallelFor(
      S, 8, [&](int64_t begin, int64_t end) { MediumFilterRows(a, begin, end, H, taps, K, D, y); });
}

}  // namespace evo2::cpu
