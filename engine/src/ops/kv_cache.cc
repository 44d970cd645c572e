#include "ops/kv_cache.h"

#include <algorithm>
#include <cmath>

namespace evo2::ops {

void KvCache::Reserve(int64_t positions) {
  const size_t want = static_cast<size_t>(positions * width_);
  if (k_.size() >= want) return;
  k_.resize(want);
  v_.resize(want);
}

void KvCache::Append(const float* k_row, const float* v_row) {
  AppendRows(k_row, width_, v_row, width_, 1);
}

void KvCache::AppendRows(const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t rows) {
  const int64_t need = length_ + rows;
  if (static_cast<int64_t>(k_.size()) < need * width_) {
    Reserve(std::max<int64_t>(need, length_ + length_ / 2 + 16));
  }
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(k + r * ldk, width_, k_.data() + (length_ + r) * width_);
    std::copy_n(v + r * ldv, width_, v_.data() + (length_ + r) * width_);
  }
  length_ = need;
}

void DecodeAttentionHead(const float* qh, int64_t d, const KvCache& cache, int64_t col,
                         float* out) {
  const int64_t T = cache.length(), W = cache.row_width();
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> score(static_cast<size_t>(T));
  std::vector<double> acc(static_cast<size_t>(d), 0.0);
  double mx = -INFINITY;
  for (int64_t j = 0; j < T; ++j) {
    const float* kj = cache.keys() + j * W + col;
    float dot = 0;  // fp32 dot product like the parallel path's sgemm
    for (int64_t i = 0; i < d; ++i) dot += qh[i] * kj[i];
    score[static_cast<size_t>(j)] = dot * scale;
    mx = std::max(mx, score[static_cast<size_t>(j)]);
  }
  double sum = 0;
  for (int64_t j = 0; j < T; ++j) {
    const double e = std::exp(score[static_cast<size_t>(j)] - mx);
    sum += e;
    const float* vj = cache.values() + j * W + col;
    for (int64_t i = 0; i < d; ++i) acc[static_cast<size_t>(i)] += e * vj[i];
  }
  for (int64_t i = 0; i < d; ++i) out[i] = static_cast<float>(acc[static_cast<size_t>(i)] / sum);
}

void DecodeAttention(const float* q, int64_t num_heads, int64_t num_kv_heads, int64_t d,
                     const KvCache& cache, float* out) {
  const int64_t group = num_heads / num_kv_heads;
  for (int64_t h = 0; h < num_heads; ++h) {
    DecodeAttentionHead(q + h * d, d, cache, (h / group) * d, out + h * d);
  }
}

}  // namespace evo2::ops
