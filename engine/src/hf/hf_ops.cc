#include "hf/hf_ops.h"

#include <algorithm>
#include <cmath>

#include "ops/linear.h"

namespace evo2::hf {

namespace {

constexpr int64_t kHeadChunk = 256;  // positions per head chunk: [256, 512] fp32 = 512 KB

}  // namespace

float HfInvRms(const float* x, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
}

void HfRmsNorm(const float* x, int64_t S, int64_t H, const float* weight, float eps, float* y,
               ops::ThreadPool& pool) {
  pool.ParallelFor(S, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* xr = x + t * H;
      float* yr = y + t * H;
      const float inv = HfInvRms(xr, H, eps);
      for (int64_t c = 0; c < H; ++c) yr[c] = weight[c] * (xr[c] * inv);
    }
  });
}

void HfHead(const float* x, int64_t S, int64_t H, const float* final_norm, float eps,
            const float* head, int64_t V, std::span<const int32_t> tokens,
            std::vector<float>* log_probs, std::vector<float>* logits, ops::ThreadPool& pool) {
  if (log_probs) log_probs->assign(static_cast<size_t>(std::max<int64_t>(0, S - 1)), 0.0f);
  if (logits) logits->assign(static_cast<size_t>(S * V), 0.0f);
  const int64_t chunk = std::min(S, kHeadChunk);
  std::vector<float> normed(static_cast<size_t>(chunk * H));                       // [chunk, H]
  std::vector<float> chunk_logits(logits ? 0 : static_cast<size_t>(chunk * V));   // [chunk, V]
  for (int64_t t0 = 0; t0 < S; t0 += chunk) {
    const int64_t rows = std::min(chunk, S - t0);
    HfRmsNorm(x + t0 * H, rows, H, final_norm, eps, normed.data(), pool);
    float* lg = logits ? logits->data() + t0 * V : chunk_logits.data();
    ops::Linear(normed.data(), rows, H, H, head, V, nullptr, lg, V);
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
