// Attention KV cache of one sequence and the single-query attention a decode step runs over it
// (docs/spec/model.md §12): keys are stored already rotated, so a step rotates only its own
// query and key. Layout is model-agnostic: a row per position of kv_heads·d floats, head g at
// columns [g·d, (g+1)·d); grouped-query attention maps query head h to KV head
// ⌊h / (num_heads / num_kv_heads)⌋ as the parallel path does (ops/attention.h).
#pragma once

#include <cstdint>
#include <vector>

namespace evo2::ops {

class KvCache {
 public:
  explicit KvCache(int64_t row_width = 0) : width_(row_width) {}

  int64_t length() const { return length_; }  // positions held
  int64_t row_width() const { return width_; }
  const float* keys() const { return k_.data(); }    // [length, width]
  const float* values() const { return v_.data(); }  // [length, width]

  // Appends one position; capacity grows geometrically.
  void Append(const float* k_row, const float* v_row);
  // Appends `rows` positions from matrices with row strides ldk / ldv, `width` columns each
  // taken from the given pointers (a prefill's projections).
  void AppendRows(const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t rows);
  // Room for `positions` rows without reallocating.
  void Reserve(int64_t positions);

 private:
  int64_t width_ = 0;
  int64_t length_ = 0;
  std::vector<float> k_, v_;  // [capacity, width]
};

// out [num_heads·d] = softmax(q_h·Kᵀ/√d) V per query head h over every cached position (the
// causal mask is implicit: the cache holds exactly the positions up to and including the
// current one). q [num_heads·d], query head h at columns [h·d, (h+1)·d). Softmax in double.
void DecodeAttention(const float* q, int64_t num_heads, int64_t num_kv_heads, int64_t head_dim,
                     const KvCache& cache, float* out);

// One query head of DecodeAttention: q_head, out_head [d]; the head's keys and values are
// columns [kv_column, kv_column + d) of the cache rows. For callers that spread heads over
// threads.
void DecodeAttentionHead(const float* q_head, int64_t head_dim, const KvCache& cache,
                         int64_t kv_column, float* out_head);

}  // namespace evo2::ops
