// The 8-lane helpers of fast_exp.h are always inlined, so GCC's note that passing 32-byte
// vectors changes the ABI without AVX (-Wpsabi, reported at the end of the file) is moot here.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "ops/attention.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/fast_exp.h"
#include "ops/linear.h"
#include "ops/vectorize.h"

namespace evo2::ops {

namespace {

constexpr int64_t kQueryBlock = kAttentionQueryBlock;
constexpr int kLanes = 8;

// row[0..valid) ← exp(row − max), row[valid..keys) ← 0; returns Σ exp (lane-wise partial
// sums in fp32, combined in double: the same order on every CPU).
EVO2_VECTORIZE double SoftmaxNumerator(float* row, int64_t valid, int64_t keys) {
  const int64_t full = valid / kLanes * kLanes;
  V8f vmax = V8f{} - std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < full; j += kLanes) {
    const V8f v = Load8(row + j);
    vmax = v > vmax ? v : vmax;
  }
  float mx = -std::numeric_limits<float>::infinity();
  for (int l = 0; l < kLanes; ++l) mx = std::max(mx, vmax[l]);
  for (int64_t j = full; j < valid; ++j) mx = std::max(mx, row[j]);
  V8f vsum = V8f{};
  for (int64_t j = 0; j < full; j += kLanes) {
    const V8f e = FastExp8(Load8(row + j) - mx);
    Store8(row + j, e);
    vsum += e;
  }
  double sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += vsum[l];
  for (int64_t j = full; j < valid; ++j) {
    row[j] = FastExp(row[j] - mx);
    sum += row[j];
  }
  std::fill(row + valid, row + keys, 0.0f);
  return sum;
}

}  // namespace

void CausalSoftmaxAttention(const AttentionHeads& h, int64_t S, float* out, ThreadPool& pool) {
  const int64_t nq = h.num_heads, d = h.head_dim;
  const int64_t group = nq / h.num_kv_heads;  // query heads per KV head
  const int64_t ldo = nq * d;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  // Tasks = (query block, head), heaviest (latest) blocks first, handed out dynamically: with
  // the causal mask block b costs ∝ b, so a static split would leave one thread idle.
  // Each task runs single-threaded GEMMs; the pool provides the parallelism.
  const int64_t blocks = (S + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = blocks * nq;
  std::atomic<int64_t> next{0};
  SetBlasThreads(1);
  pool.ParallelFor(pool.size(), 1, [&](int64_t, int64_t) {
    const int64_t max_keys = h.query_offset + S;
    std::vector<float> scores(
        static_cast<size_t>(std::min(S, kQueryBlock) * max_keys));  // [rows, keys]
    std::vector<double> row_sum(static_cast<size_t>(kQueryBlock));
    for (int64_t task; (task = next.fetch_add(1)) < tasks;) {
      const int64_t blk = blocks - 1 - task / nq;
      const int64_t head = task % nq;
      const int64_t kv = head / group;
      const float* q = h.q + head * h.q_head_stride;
      const float* k = h.k + kv * h.k_head_stride;
      const float* v = h.v + kv * h.v_head_stride;
      const int64_t i0 = blk * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, S - i0);
      // causal: the block's last row sees keys [0, query_offset + i0 + rows)
      const int64_t keys = h.query_offset + i0 + rows;
      // scores[r, j] = scale · q[i0+r] · k[j]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(keys), static_cast<blasint>(d), scale, q + i0 * h.ldq,
                  static_cast<blasint>(h.ldq), k, static_cast<blasint>(h.ldk), 0.0f,
                  scores.data(), static_cast<blasint>(keys));
      for (int64_t r = 0; r < rows; ++r) {
        row_sum[r] = SoftmaxNumerator(scores.data() + r * keys, h.query_offset + i0 + r + 1, keys);
      }
      // out[i0+r, head·d + i] = (Σ_j e[r, j] · v[j, i]) / Σ_j e[r, j]
      float* o = out + i0 * ldo + head * d;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(d), static_cast<blasint>(keys), 1.0f, scores.data(),
                  static_cast<blasint>(keys), v, static_cast<blasint>(h.ldv), 0.0f, o,
                  static_cast<blasint>(ldo));
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = static_cast<float>(1.0 / row_sum[r]);
        for (int64_t i = 0; i < d; ++i) o[r * ldo + i] *= inv;
      }
    }
  });
  SetBlasThreads(pool.size());
}

void CausalAttention(float* qkv, int64_t S, int64_t heads, int64_t d, const RotaryTable& rotary,
                     float* out, ThreadPool& pool) {
  const int64_t ld = 3 * heads * d;
  // Rotary on q and k of every head (positions 0..S-1).
  pool.ParallelFor(heads * 2, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t head = i / 2, which = i % 2;
      ApplyRotary(qkv + head * 3 * d + which * d, S, ld, rotary);
    }
  });
  // Per-head interleaved columns: head h's q, k, v at h·3d, h·3d + d, h·3d + 2d.
  CausalSoftmaxAttention({.q = qkv, .ldq = ld, .q_head_stride = 3 * d,
                          .k = qkv + d, .ldk = ld, .k_head_stride = 3 * d,
                          .v = qkv + 2 * d, .ldv = ld, .v_head_stride = 3 * d,
                          .num_heads = heads, .num_kv_heads = heads, .head_dim = d},
                         S, out, pool);
}

}  // namespace evo2::ops
