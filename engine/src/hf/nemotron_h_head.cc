#include "hf/nemotron_h_head.h"

#include <algorithm>
#include <cmath>

#include "cpu/linear.h"
#include "hf/nemotron_h_rms_norm.h"

namespace evo2::hf {

namespace {

constexpr int64_t kChunk = 256;  // positions per chunk: [256, 512] fp32 logits = 512 KB

}  // namespace

void NemotronHHead(const float* x, int64_t S, int64_t H, const float* norm_f, float eps,
                   const float* lm_head, int64_t V, std::span<const int32_t> tokens,
                   std::vector<float>* log_probs, std::vector<float>* logits,
                   cpu::ThreadPool& pool) {
  if (log_probs) log_probs->assign(static_cast<size_t>(std::max<int64_t>(0, S - 1)), 0.0f);
  if (logits) logits->assign(static_cast<size_t>(S * V), 0.0f);
  const int64_t chunk = std::min(S, kChunk);
  std::vector<float> normed(static_cast<size_t>(chunk * H));        // [chunk, H]
  std::vector<float> chunk_logits(static_cast<size_t>(chunk * V));  // [chunk, V]
  for (int64_t t0 = 0; t0 < S; t0 += chunk) {
    const int64_t rows = std::min(chunk, S - t0);
    HfRmsNorm(x + t0 * H, rows, H, norm_f, eps, normed.data(), pool);
    float* lg = logits ? logits->data() + t0 * V : chunk_logits.data();
    cpu::Linear(normed.data(), rows, H, H, lm_head, V, nullptr, lg, V);
    if (!log_probs) continue;
    pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t t = t0 + r;
        if (t >= S - 1) continue;  // the last position predicts a token that is not there
        const float* row = lg + r * V;
        const float mx = *std::max_element(row, row + V);
        double sum = 0;
        for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
        const int32_t next = tokens[static_cast<size_t>(t + 1)];
        (*log_probs)[static_cast<size_t>(t)] =
            static_cast<float>((static_cast<double>(row[next]) - mx) - std::log(sum));
      }
    });
  }
}

}  // namespace evo2::hf
