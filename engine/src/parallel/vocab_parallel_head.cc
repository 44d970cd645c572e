#include "parallel/vocab_parallel_head.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "evo2/status_macros.h"
#include "ops/linear.h"
#include "ops/rms_norm.h"

namespace evo2::parallel {
namespace {

constexpr int64_t kChunk = 256;  // positions per step, like the CPU backend's head

}  // namespace

absl::Status VocabParallelHead(const SequenceSplit& split, int cp_rank, Communicator& tp,
                               const float* x, int64_t H, const HeadShard& head,
                               std::span<const int32_t> tokens, const HeadOutputs& out,
                               ops::ThreadPool& pool) {
  const int64_t L = split.LocalRows(), S = split.tokens(), Vl = head.rows, V = head.vocab;
  const bool lead = tp.rank() == 0;
  std::vector<float> normed(static_cast<size_t>(std::min(L, kChunk) * H));   // [chunk, H]
  std::vector<float> logits(static_cast<size_t>(std::min(L, kChunk) * Vl));  // [chunk, V/TP]
  std::vector<double> stats, all;  // [chunk, 2] (lse_r, tgt_r); [TP, chunk, 2]
  for (int64_t r0 = 0; r0 < L; r0 += kChunk) {
    const int64_t rows = std::min(kChunk, L - r0);
    ops::RmsNorm(x + r0 * H, rows, H, head.final_norm, head.eps, normed.data(), pool);
    ops::Linear(normed.data(), rows, H, H, head.embedding, Vl, nullptr, logits.data(), Vl);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t pos = split.Position(cp_rank, r0 + r);
      if (pos >= S) continue;
      if (out.logits) std::copy_n(logits.data() + r * Vl, Vl, out.logits + pos * V + head.v0);
      if (out.final_norm && lead) std::copy_n(normed.data() + r * H, H, out.final_norm + pos * H);
    }
    if (!out.log_probs) continue;
    stats.assign(static_cast<size_t>(rows * 2), 0.0);
    pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* row = logits.data() + r * Vl;
        const float mx = *std::max_element(row, row + Vl);
        double sum = 0;
        for (int64_t j = 0; j < Vl; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
        stats[2 * r] = mx + std::log(sum);
        const int64_t pos = split.Position(cp_rank, r0 + r);
        if (pos + 1 < S) {
          const int64_t next = tokens[static_cast<size_t>(pos + 1)] - head.v0;
          if (next >= 0 && next < Vl) stats[2 * r + 1] = row[next];
        }
      }
    });
    all.resize(stats.size() * static_cast<size_t>(tp.size()));
    RETURN_IF_ERROR(tp.AllGather(std::span<const double>(stats), std::span<double>(all)));
    if (!lead) continue;
    const size_t stride = stats.size();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t pos = split.Position(cp_rank, r0 + r);
      if (pos + 1 >= S) continue;  // the last position predicts a token that is not there
      double mx = -std::numeric_limits<double>::infinity(), tgt = 0;
      for (int t = 0; t < tp.size(); ++t) mx = std::max(mx, all[t * stride + 2 * r]);
      double sum = 0;
      for (int t = 0; t < tp.size(); ++t) {
        sum += std::exp(all[t * stride + 2 * r] - mx);
        tgt += all[t * stride + 2 * r + 1];
      }
      out.log_probs[pos] = static_cast<float>(tgt - (mx + std::log(sum)));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::parallel
