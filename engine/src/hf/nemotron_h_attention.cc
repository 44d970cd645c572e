// The 8-lane helpers of fast_exp.h are always inlined, so GCC's note that passing 32-byte
// vectors changes the ABI without AVX (-Wpsabi, reported at the end of the file) is moot here.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "hf/nemotron_h_attention.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "cpu/fast_exp.h"
#include "cpu/linear.h"
#include "cpu/vectorize.h"

namespace evo2::hf {

namespace {

// Query rows per task: the score block [kQueryBlock, S] is 2 MB at S = 8192.
constexpr int64_t kQueryBlock = 64;
constexpr int kLanes = 8;

// row[0..valid) ← exp(row − max), row[valid..keys) ← 0 (the causal mask); returns Σ exp
// (lane-wise partial sums in fp32, combined in double: the same order on every CPU). FastExp's
// 2 ulp error is far below the 1e-4 logit tolerance of the goldens.
EVO2_VECTORIZE double SoftmaxNumerator(float* row, int64_t valid, int64_t keys) {
  using cpu::FastExp;
  using cpu::FastExp8;
  using cpu::Load8;
  using cpu::Store8;
  using cpu::V8f;
  const int64_t full = valid / kLanes * kLanes;
  V8f vmax = V8f{} - std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < full; j += kLanes) {
    const V8f x = Load8(row + j);
    vmax = x > vmax ? x : vmax;
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

void GqaCausalAttention(const float* q, const float* k, const float* v, int64_t S, int64_t n_q,
                        int64_t n_kv, int64_t d, float* out, cpu::ThreadPool& pool) {
  const int64_t ldq = n_q * d, ldkv = n_kv * d;
  const int64_t group = n_q / n_kv;  // query heads per KV head
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  // Tasks = (query block, head), heaviest (latest) blocks first, handed out dynamically: with
  // the causal mask block b costs ∝ b. Each task runs single-threaded GEMMs; the pool provides
  // the parallelism.
  const int64_t blocks = (S + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = blocks * n_q;
  std::atomic<int64_t> next{0};
  cpu::SetBlasThreads(1);
  pool.ParallelFor(pool.size(), 1, [&](int64_t, int64_t) {
    std::vector<float> scores(static_cast<size_t>(std::min(S, kQueryBlock) * S));  // [rows, keys]
    std::vector<double> row_sum(static_cast<size_t>(kQueryBlock));
    for (int64_t task; (task = next.fetch_add(1)) < tasks;) {
      const int64_t blk = blocks - 1 - task / n_q;
      const int64_t head = task % n_q;
      const int64_t kv = head / group;
      const int64_t i0 = blk * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, S - i0);
      const int64_t keys = i0 + rows;  // causal: the block's last row sees keys [0, i0+rows)
      // scores[r, j] = scale · q_head[i0+r] · k_kv[j]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(keys), static_cast<blasint>(d), scale,
                  q + i0 * ldq + head * d, static_cast<blasint>(ldq), k + kv * d,
                  static_cast<blasint>(ldkv), 0.0f, scores.data(), static_cast<blasint>(keys));
      for (int64_t r = 0; r < rows; ++r) {
        row_sum[r] = SoftmaxNumerator(scores.data() + r * keys, i0 + r + 1, keys);
      }
      // out[i0+r, head·d + i] = (Σ_j e[r, j] · v_kv[j, i]) / Σ_j e[r, j]
      float* o = out + i0 * ldq + head * d;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(d), static_cast<blasint>(keys), 1.0f, scores.data(),
                  static_cast<blasint>(keys), v + kv * d, static_cast<blasint>(ldkv), 0.0f, o,
                  static_cast<blasint>(ldq));
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = static_cast<float>(1.0 / row_sum[r]);
        for (int64_t i = 0; i < d; ++i) o[r * ldq + i] *= inv;
      }
    }
  });
  cpu::SetBlasThreads(pool.size());
}

int64_t AttentionMixer::ScratchFloats(int64_t S, int threads) const {
  const int64_t qd = config_.num_attention_heads * config_.attention_head_dim;
  const int64_t kvd = config_.num_key_value_heads * config_.attention_head_dim;
  return 2 * S * qd + 2 * S * kvd + int64_t{threads} * std::min(S, kQueryBlock) * S;
}

void AttentionMixer::Run(const NemotronHAttentionWeights& w, const float* u, int64_t S,
                         float* out, cpu::ThreadPool& pool) {
  const int64_t H = config_.hidden_size, d = config_.attention_head_dim;
  const int64_t n_q = config_.num_attention_heads, n_kv = config_.num_key_value_heads;
  q_.resize(static_cast<size_t>(S * n_q * d));
  k_.resize(static_cast<size_t>(S * n_kv * d));
  v_.resize(static_cast<size_t>(S * n_kv * d));
  o_.resize(static_cast<size_t>(S * n_q * d));
  cpu::Linear(u, S, H, H, w.q_proj.data(), n_q * d, nullptr, q_.data(), n_q * d);
  cpu::Linear(u, S, H, H, w.k_proj.data(), n_kv * d, nullptr, k_.data(), n_kv * d);
  cpu::Linear(u, S, H, H, w.v_proj.data(), n_kv * d, nullptr, v_.data(), n_kv * d);
  GqaCausalAttention(q_.data(), k_.data(), v_.data(), S, n_q, n_kv, d, o_.data(), pool);
  cpu::Linear(o_.data(), S, n_q * d, n_q * d, w.o_proj.data(), H, nullptr, out, H);
}

}  // namespace evo2::hf
