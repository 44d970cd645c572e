// Final norm + tied head + log-softmax + gather, fused over chunks of positions
// (docs/spec/model.md §3, §5):
//   logits[t] = RMSNorm_final(x[t]) · Eᵀ              [512]
//   lp[t]     = logits[t][tok[t+1]] − logsumexp(logits[t]),   t = 0..S−2
// Only a [chunk, V] block of logits exists at a time unless the caller asks for all of them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/thread_pool.h"

namespace evo2::cpu {

struct LmHeadOutputs {
  std::vector<float>* log_probs = nullptr;   // [S-1] when non-null
  std::vector<float>* logits = nullptr;      // [S, V] when non-null
  std::vector<float>* final_norm = nullptr;  // [S, H] when non-null (capture of `norm`)
};

// x [S, H] (the residual stream after the last block), scale [H], embedding [V, H].
void LmHead(const float* x, int64_t S, int64_t H, const float* scale, float eps,
            const float* embedding, int64_t V, std::span<const int32_t> tokens,
            const LmHeadOutputs& outputs, ops::ThreadPool& pool);

}  // namespace evo2::cpu
