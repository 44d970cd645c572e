// The tied head with the vocabulary split over TP ranks, and a parallel log-softmax
// (docs/parallelism.md §1): rank r holds embedding rows [v0, v0 + V/TP) and computes only its
// logit columns. Per position it reduces its columns to
//   lse_r = log Σ_{v in shard} exp(logit_v),   tgt_r = logit_{next} if next is in the shard, else 0
// and the TP ranks all-gather these two numbers (not the logits):
//   lp = Σ_r tgt_r − logsumexp_r(lse_r).
// Full logits are only assembled when asked for (each rank writes its columns of the output).
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "evo2/communicator.h"
#include "ops/thread_pool.h"
#include "parallel/sequence_split.h"

namespace evo2::parallel {

struct HeadShard {
  const float* final_norm = nullptr;  // [H]
  float eps = 0;
  const float* embedding = nullptr;  // [V/TP, H], rows v0..
  int64_t vocab = 0;                 // V
  int64_t v0 = 0;
  int64_t rows = 0;  // V/TP
};

// Outputs at natural positions; null when not wanted. Written only for real positions (< S).
struct HeadOutputs {
  float* log_probs = nullptr;   // [S-1]; written by TP rank 0
  float* logits = nullptr;      // [S, V]; each TP rank writes its columns
  float* final_norm = nullptr;  // [S, H]; written by TP rank 0
};

// x [L, H]: this rank's rows of the residual stream after the last block. `cp_rank` places the
// rows (split.Position). A collective over `tp`.
absl::Status VocabParallelHead(const SequenceSplit& split, int cp_rank, Communicator& tp,
                               const float* x, int64_t H, const HeadShard& head,
                               std::span<const int32_t> tokens, const HeadOutputs& out,
                               ops::ThreadPool& pool);

}  // namespace evo2::parallel
