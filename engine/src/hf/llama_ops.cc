#include "hf/llama_ops.h"

#include <cmath>

namespace evo2::hf {

void SwiGlu(const float* gate_up, int64_t rows, int64_t F, float* h, ops::ThreadPool& pool) {
  pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = gate_up + r * 2 * F;
      const float* u = g + F;
      float* hr = h + r * F;
      for (int64_t f = 0; f < F; ++f) hr[f] = g[f] / (1.0f + std::exp(-g[f])) * u[f];
    }
  });
}

}  // namespace evo2::hf
