// Per-position pieces both HuggingFace families define the same way (golden/l_eden_a/README.md,
// golden/m_hybrid_a/README.md "Forward pass" / "End"), unlike Evo 2's (ops/rms_norm.h,
// cpu/lm_head.h: ε outside the root, tied head):
//   RMSNorm(x; w) = w ⊙ x / sqrt(mean_j x_j² + ε)          (ε INSIDE the square root)
//   logits[t] = W_head · RMSNorm(x[t]; final_norm)            [V], untied head
//   lp[t]     = logits[t][tok[t+1]] − logsumexp(logits[t]),  t = 0..S−2
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/thread_pool.h"

namespace evo2::hf {

// 1 / sqrt(mean(x²) + ε) of one row; the sum of squares in double (long rows).
float HfInvRms(const float* x, int64_t n, float eps);

// x, y [S, H] row-major (may alias), weight [H].
void HfRmsNorm(const float* x, int64_t S, int64_t H, const float* weight, float eps, float* y,
               ops::ThreadPool& pool);

// The final norm, the head and the next-token log-probabilities, fused over chunks of positions
// so that only a [chunk, V] block of logits exists unless all logits are asked for.
// x [S, H], final_norm [H], head [V, H]. Fills *log_probs [S−1] and/or *logits [S, V] when
// non-null.
void HfHead(const float* x, int64_t S, int64_t H, const float* final_norm, float eps,
            const float* head, int64_t V, std::span<const int32_t> tokens,
            std::vector<float>* log_probs, std::vector<float>* logits, ops::ThreadPool& pool);

}  // namespace evo2::hf
