#include "parallel/cp_attention.h"

#include <algorithm>
#include <vector>

#include "evo2/status_macros.h"
#include "ops/attention.h"

namespace evo2::parallel {

absl::Status CausalAttentionContextParallel(const SequenceSplit& split, Communicator& cp,
                                            float* qkv, int64_t heads, int64_t d,
                                            const ops::RotaryTable& rotary, float* out,
                                            ops::ThreadPool& pool) {
  const int64_t Lc = split.chunk_tokens();
  const int64_t L = split.LocalRows();
  const int64_t ld = 3 * heads * d;
  const int64_t kv_width = heads * 2 * d;  // per row: head h's k then v
  const std::vector<int>& mine = split.ChunksOf(cp.rank());
  // 1. Rotary on q and k at the chunks' absolute positions.
  for (size_t j = 0; j < mine.size(); ++j) {
    float* rows = qkv + static_cast<int64_t>(j) * Lc * ld;
    pool.ParallelFor(heads * 2, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        ops::ApplyRotary(rows + (i / 2) * 3 * d + (i % 2) * d, Lc, ld, rotary, mine[j] * Lc);
      }
    });
  }
  // 2. Keys and values of every position, in natural order.  kv [padded, heads, 2d]
  std::vector<float> local_kv(static_cast<size_t>(L * kv_width));
  for (int64_t t = 0; t < L; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      std::copy_n(qkv + t * ld + h * 3 * d + d, 2 * d, local_kv.data() + t * kv_width + h * 2 * d);
    }
  }
  std::vector<float> gathered(static_cast<size_t>(cp.size()) * local_kv.size());
  RETURN_IF_ERROR(cp.AllGather(std::span<const float>(local_kv), std::span<float>(gathered)));
  std::vector<float> kv(static_cast<size_t>(split.padded_tokens() * kv_width));
  for (int r = 0; r < cp.size(); ++r) {
    const std::vector<int>& chunks = split.ChunksOf(r);
    for (size_t j = 0; j < chunks.size(); ++j) {
      std::copy_n(
          gathered.data() + (static_cast<int64_t>(r) * L + static_cast<int64_t>(j) * Lc) * kv_width,
          Lc * kv_width, kv.data() + chunks[j] * Lc * kv_width);
    }
  }
  // 3. Each local chunk's queries against keys 0..q.
  for (size_t j = 0; j < mine.size(); ++j) {
    const int64_t row0 = static_cast<int64_t>(j) * Lc;
    ops::CausalSoftmaxAttention({.q = qkv + row0 * ld,
                                 .ldq = ld,
                                 .q_head_stride = 3 * d,
                                 .k = kv.data(),
                                 .ldk = kv_width,
                                 .k_head_stride = 2 * d,
                                 .v = kv.data() + d,
                                 .ldv = kv_width,
                                 .v_head_stride = 2 * d,
                                 .num_heads = heads,
                                 .num_kv_heads = heads,
                                 .head_dim = d,
                                 .query_offset = mine[j] * Lc},
                                Lc, out + row0 * heads * d, pool);
  }
  return absl::OkStatus();
}

}  // namespace evo2::parallel
