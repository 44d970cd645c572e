#include "hf/nemotron_h_mlp.h"

#include <algorithm>

#include "ops/linear.h"

namespace evo2::hf {

void SquaredReluMlp(const NemotronHMlpWeights& w, const float* u, int64_t S, int64_t H, int64_t F,
                    float* out, std::vector<float>& scratch, ops::ThreadPool& pool) {
  const int64_t chunk = std::min(S, kMlpChunkTokens);
  scratch.resize(static_cast<size_t>(chunk * F));  // [chunk, F]
  for (int64_t t0 = 0; t0 < S; t0 += chunk) {
    const int64_t rows = std::min(chunk, S - t0);
    ops::Linear(u + t0 * H, rows, H, H, w.up_proj.data(), F, nullptr, scratch.data(), F);
    pool.ParallelFor(rows * F, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const float r = std::max(scratch[i], 0.0f);
        scratch[i] = r * r;
      }
    });
    ops::Linear(scratch.data(), rows, F, F, w.down_proj.data(), H, nullptr, out + t0 * H, H);
  }
}

}  // namespace evo2::hf
