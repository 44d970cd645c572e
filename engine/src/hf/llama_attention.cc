// The 8-lane helpers of fast_exp.h are always inlined, so GCC's note that passing 32-byte
// vectors changes the ABI without AVX (-Wpsabi) is moot here (as in cpu/attention.cc).
#pragma GCC diagnostic ignored "-Wpsabi"

#include "hf/llama_attention.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/fast_exp.h"
#include "cpu/linear.h"
#include "cpu/vectorize.h"

namespace evo2::hf {

namespace {

using cpu::FastExp;
using cpu::FastExp8;
using cpu::Load8;
using cpu::Store8;
using cpu::V8f;

// Query rows per task: the score block [kQueryBlock, S] is 2 MB at S = 8192.
constexpr int64_t kQueryBlock = 64;
constexpr int kLanes = 8;

// row[0..valid) ← exp(row − max), row[valid..keys) ← 0 (the causal mask); returns Σ exp.
// FastExp is within 2 ulp of exp, far below the 1e-4 logit tolerance.
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

void GqaCausalAttention(float* qkv, int64_t S, const GqaShape& shape,
                        const cpu::RotaryTable& rotary, float* out, cpu::ThreadPool& pool) {
  const int64_t nq = shape.num_heads, nkv = shape.num_kv_heads, d = shape.head_dim;
  const int64_t ld = shape.ld();
  const int64_t group = nq / nkv;  // query heads per KV head
  const int64_t out_ld = nq * d;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  // RoPE on the n_q query heads and n_kv key heads (columns 0 … (n_q+n_kv)·d), not on v.
  pool.ParallelFor(nq + nkv, 1, [&](int64_t b, int64_t e) {
    for (int64_t head = b; head < e; ++head) cpu::ApplyRotary(qkv + head * d, S, ld, rotary);
  });
  // Tasks = (query block, query head), latest (costliest under the causal mask) blocks first,
  // handed out dynamically; each runs single-threaded GEMMs, the pool gives the parallelism.
  const int64_t blocks = (S + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = blocks * nq;
  std::atomic<int64_t> next{0};
  cpu::SetBlasThreads(1);
  pool.ParallelFor(pool.size(), 1, [&](int64_t, int64_t) {
    std::vector<float> scores(static_cast<size_t>(std::min(S, kQueryBlock) * S));  // [rows, keys]
    std::vector<double> row_sum(static_cast<size_t>(kQueryBlock));
    for (int64_t task; (task = next.fetch_add(1)) < tasks;) {
      const int64_t blk = blocks - 1 - task / nq;
      const int64_t head = task % nq;
      const int64_t kv = head / group;
      const float* q = qkv + head * d;
      const float* k = qkv + (nq + kv) * d;
      const float* v = qkv + (nq + nkv + kv) * d;
      const int64_t i0 = blk * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, S - i0);
      const int64_t keys = i0 + rows;  // the block's last row sees keys [0, i0 + rows)
      // scores[r, j] = scale · q[i0 + r] · k[j]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(keys), static_cast<blasint>(d), scale, q + i0 * ld,
                  static_cast<blasint>(ld), k, static_cast<blasint>(ld), 0.0f, scores.data(),
                  static_cast<blasint>(keys));
      for (int64_t r = 0; r < rows; ++r) {
        row_sum[r] = SoftmaxNumerator(scores.data() + r * keys, i0 + r + 1, keys);
      }
      // out[i0 + r, head·d + i] = (Σ_j e[r, j] · v[j, i]) / Σ_j e[r, j]
      float* o = out + i0 * out_ld + head * d;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(d), static_cast<blasint>(keys), 1.0f, scores.data(),
                  static_cast<blasint>(keys), v, static_cast<blasint>(ld), 0.0f, o,
                  static_cast<blasint>(out_ld));
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = static_cast<float>(1.0 / row_sum[r]);
        for (int64_t i = 0; i < d; ++i) o[r * out_ld + i] *= inv;
      }
    }
  });
  cpu::SetBlasThreads(pool.size());
}

}  // namespace evo2::hf
