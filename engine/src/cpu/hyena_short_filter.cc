#include "cpu/hyena_short_filter.h"

#include <algorithm>

#include "ops/vectorize.h"

namespace evo2::cpu {

std::vector<float> ExpandGroupedTaps(const float* h, int64_t G, int64_t K, int64_t H) {
  std::vector<float> out(static_cast<size_t>(K * H));
  const int64_t per_group = H / G;
  for (int64_t c = 0; c < H; ++c) {
    const int64_t g = c / per_group;
    for (int64_t k = 0; k < K; ++k) out[k * H + c] = h[g * K + k];
  }
  return out;
}

namespace {

EVO2_VECTORIZE void ShortFilterRows(const float* a, int64_t begin, int64_t end, int64_t H,
                                    const float* taps, int64_t K, float* y) {
  for (int64_t t = begin; t < end; ++t) {
    float* yt = y + t * H;
    std::fill(yt, yt + H, 0.0f);
    // Tap k reads a[t - (K-1) + k]; taps reaching before t = 0 see zeros.
    for (int64_t k = std::max<int64_t>(0, K - 1 - t); k < K; ++k) {
      const float* at = a + (t - (K - 1) + k) * H;
      const float* w = taps + k * H;
      for (int64_t c = 0; c < H; ++c) yt[c] += w[c] * at[c];
    }
  }
}

}  // namespace

void HyenaShortFilter(const float* a, int64_t S, int64_t H, const float* taps, int64_t K, float* y,
                      ops::ThreadPool& pool) {
  pool.ParallelFor(
      S, 16, [&](int64_t begin, int64_t end) { ShortFilterRows(a, begin, end, H, taps, K, y); });
}

}  // namespace evo2::cpu
