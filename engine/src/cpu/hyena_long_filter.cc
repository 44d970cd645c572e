#include "cpu/hyena_long_filter.h"

#include <algorithm>
#include <cmath>

namespace evo2::cpu {

ModalFilter MakeModalFilter(const float* log_poles, const float* residues, const float* D,
                            int64_t H, int64_t modes) {
  ModalFilter f;
  f.channels = H;
  f.modes = modes;
  const size_t n = static_cast<size_t>(H * modes);
  f.pole.resize(n);
  f.residue.resize(n);
  f.log_pole.assign(log_poles, log_poles + n);
  f.residue_f32.assign(residues, residues + n);
  for (size_t i = 0; i < n; ++i) {
    f.pole[i] = std::exp(static_cast<double>(log_poles[i]));
    f.residue[i] = residues[i];
  }
  f.skip.assign(D, D + H);
  return f;
}

namespace {

constexpr int64_t kChannelBlock = 8;  // channels whose state (8 x 16 doubles) stays in L1
constexpr int64_t kMaxModes = 64;

}  // namespace

void HyenaLongFilterModal(const float* a, int64_t S, int64_t H, const ModalFilter& f, float* y,
                          ops::ThreadPool& pool, double* end_state, const double* start_state) {
  const int64_t M = f.modes;
  const int64_t blocks = (H + kChannelBlock - 1) / kChannelBlock;
  pool.ParallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    double state[kChannelBlock * kMaxModes];
    double prod[kMaxModes];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t c0 = blk * kChannelBlock;
      const int64_t c1 = std::min(H, c0 + kChannelBlock);
      std::fill(state, state + kChannelBlock * kMaxModes, 0.0);
      if (start_state != nullptr) {  // read before end_state (possibly the same array) is written
        for (int64_t c = c0; c < c1; ++c) {
          std::copy_n(start_state + c * M, M, state + (c - c0) * kMaxModes);
        }
      }
      for (int64_t t = 0; t < S; ++t) {
        const float* at = a + t * H;
        float* yt = y + t * H;
        for (int64_t c = c0; c < c1; ++c) {
          const double av = at[c];
          double* s = state + (c - c0) * kMaxModes;
          const double* p = f.pole.data() + c * M;
          const double* r = f.residue.data() + c * M;
          for (int64_t n = 0; n < M; ++n) {
            s[n] = p[n] * s[n] + av;
            prod[n] = r[n] * s[n];
          }
          double acc = 0;
          for (int64_t n = 0; n < M; ++n) acc += prod[n];
          yt[c] = static_cast<float>(acc + static_cast<double>(f.skip[c]) * av);
        }
      }
      if (end_state != nullptr) {
        for (int64_t c = c0; c < c1; ++c) {
          std::copy_n(state + (c - c0) * kMaxModes, M, end_state + c * M);
        }
      }
    }
  });
}

}  // namespace evo2::cpu
