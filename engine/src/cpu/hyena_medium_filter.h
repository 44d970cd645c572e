// hcm inner filter (docs/spec/model.md §7 step 5): grouped FIR of K = 128 taps in
// IMPULSE order (tap 0 multiplies the current sample) plus a per-channel skip D:
//   y_c[t] = Σ_{k<K} h[g, k] · a_c[t - k] + D_c · a_c[t],   g = ⌊c / (H/G)⌋, zero history.
// Computed directly (S·H·K MACs, vectorised over channels): at K = 128 a direct FIR costs less
// than the FFT of size 2S that vortex uses, and it is exact.
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace evo2::cpu {

// a, y [S, H]; taps [K, H] per channel (hyena_short_filter.h ExpandGroupedTaps), D [H].
void HyenaMediumFilter(const float* a, int64_t S, int64_t H, const float* taps, int64_t K,
                       const float* D, float* y, ops::ThreadPool& pool);

}  // namespace evo2::cpu
