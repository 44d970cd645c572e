#include "cpu/lm_head.h"

#include <algorithm>
#include <cmath>

#include "ops/linear.h"
#include "ops/rms_norm.h"

namespace evo2::cpu {

namespace {

constexpr int64_t kChunk = 256;  // positions per chunk: [256, 512] fp32 logits = 512 KB

}  // namespace

void LmHead(const float* x, int64_t S, int64_t H, const float* scale, float eps,
            const float* embedding, int64_t V, std::span<const int32_t> tokens,
            const LmHeadOutputs& o, ops::ThreadPool& pool) {
  if (o.log_probs) o.log_probs->assign(static_cast<size_t>(std::max<int64_t>(0, S - 1)), 0.0f);
  if (o.logits) o.logits->assign(static_cast<size_t>(S * V), 0.0f);
  if (o.final_norm) o.final_norm->assign(static_cast<size_t>(S * H), 0.0f);
  std::vector<float> normed(static_cast<size_t>(std::min(S, kChunk) * H));
  std::vector<float> chunk_logits(static_cast<size_t>(std::min(S, kChunk) * V));
  for (int64_t t0 = 0; t0 < S; t0 += kChunk) {
    const int64_t rows = std::min(kChunk, S - t0);
    ops::RmsNorm(x + t0 * H, rows, H, scale, eps, normed.data(), pool);
    if (o.final_norm) std::copy_n(normed.data(), rows * H, o.final_norm->data() + t0 * H);
    float* lg = o.logits ? o.logits->data() + t0 * V : chunk_logits.data();
    ops::Linear(normed.data(), rows, H, H, embedding, V, nullptr, lg, V);
    if (!o.log_probs) continue;
    pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t t = t0 + r;
        if (t >= S - 1) continue;  // the last position predicts a token that is not there
        const float* row = lg + r * V;
        float mx = row[0];
        for (int64_t j = 1; j < V; ++j) mx = std::max(mx, row[j]);
        double sum = 0;
        for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
        const int32_t next = tokens[static_cast<size_t>(t + 1)];
        (*o.log_probs)[static_cast<size_t>(t)] =
            static_cast<float>((static_cast<double>(row[next]) - mx) - std::log(sum));
      }
    });
  }
}

}  // namespace evo2::cpu
