#include "hf/llama_ops.h"

#include <algorithm>
#include <cmath>

#include "cpu/linear.h"

namespace evo2::hf {

namespace {

constexpr int64_t kHeadChunk = 256;  // positions per head chunk: [256, 512] fp32 = 512 KB

}  // namespace

void LlamaRmsNorm(const float* x, int64_t S, int64_t H, const float* w, float eps, float* y,
                  cpu::ThreadPool& pool) {
  pool.ParallelFor(S, 64, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) {
      const float* xs = x + s * H;
      float* ys = y + s * H;
      double ss = 0;  // sum of squares in double; HF's fp32 mean differs by rounding only
      for (int64_t j = 0; j < H; ++j) ss += static_cast<double>(xs[j]) * xs[j];
      const float inv = static_cast<float>(
          1.0 / std::sqrt(ss / static_cast<double>(H) + static_cast<double>(eps)));
      for (int64_t j = 0; j < H; ++j) ys[j] = w[j] * (xs[j] * inv);
    }
  });
}

void SwiGlu(const float* gate_up, int64_t rows, int64_t F, float* h, cpu::ThreadPool& pool) {
  pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = gate_up + r * 2 * F;
      const float* u = g + F;
      float* hr = h + r * F;
      for (int64_t f = 0; f < F; ++f) hr[f] = g[f] / (1.0f + std::exp(-g[f])) * u[f];
    }
  });
}

void LlamaHead(const float* x, int64_t S, int64_t H, const float* final_norm, float eps,
               const float* head, int64_t V, std::span<const int32_t> tokens,
               const LlamaHeadOutputs& o, cpu::ThreadPool& pool) {
  if (o.log_probs) o.log_probs->assign(static_cast<size_t>(std::max<int64_t>(0, S - 1)), 0.0f);
  if (o.logits) o.logits->assign(static_cast<size_t>(S * V), 0.0f);
  std::vector<float> normed(static_cast<size_t>(std::min(S, kHeadChunk) * H));  // [chunk, H]
  std::vector<float> chunk_logits(o.logits ? 0 : static_cast<size_t>(std::min(S, kHeadChunk) * V));
  for (int64_t s0 = 0; s0 < S; s0 += kHeadChunk) {
    const int64_t rows = std::min(kHeadChunk, S - s0);
    LlamaRmsNorm(x + s0 * H, rows, H, final_norm, eps, normed.data(), pool);
    float* lg = o.logits ? o.logits->data() + s0 * V : chunk_logits.data();  // [rows, V]
    cpu::Linear(normed.data(), rows, H, H, head, V, nullptr, lg, V);
    if (!o.log_probs) continue;
    pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t s = s0 + r;
        if (s >= S - 1) continue;  // the last position predicts a token that is not there
        const float* row = lg + r * V;
        const float mx = *std::max_element(row, row + V);
        double sum = 0;
        for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
        const int32_t next = tokens[static_cast<size_t>(s + 1)];
        (*o.log_probs)[static_cast<size_t>(s)] =
            static_cast<float>((static_cast<double>(row[next]) - mx) - std::log(sum));
      }
    });
  }
}

}  // namespace evo2::hf
