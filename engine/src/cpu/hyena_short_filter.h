// hcs inner filter (docs/spec/model.md §7 step 5): a grouped depthwise FIR of K = 7 taps
// in CONV order (the last tap multiplies the current sample), zero history, no skip, no bias:
//   y_c[t] = Σ_{k<K} h[g, k] · a_c[t - (K-1) + k],   g = ⌊c / (H/G)⌋ (contiguous channel blocks).
#pragma once

#include <cstdint>
#include <vector>

#include "ops/thread_pool.h"

namespace evo2::cpu {

// Expands grouped taps h [G, K] to per-channel, tap-major [K, H] (tap k of channel c at
// k*H + c), so the filters vectorise over channels. H must be divisible by G.
std::vector<float> ExpandGroupedTaps(const float* h, int64_t G, int64_t K, int64_t H);

// a, y [S, H]; taps [K, H] from ExpandGroupedTaps (conv order).
void HyenaShortFilter(const float* a, int64_t S, int64_t H, const float* taps, int64_t K, float* y,
                      ops::ThreadPool& pool);

}  // namespace evo2::cpu
