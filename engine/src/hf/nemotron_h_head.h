// The end of the NemotronH network (golden/m_hybrid_a/README.md "End"): final RMSNorm (ε inside
// the root), the untied lm_head and the next-token log-probabilities, fused over chunks of
// positions so that only a [chunk, V] block of logits exists unless all logits are asked for:
//   logits[t] = W_lm · RMSNorm(x[t]; norm_f)                        [V]
//   lp[t]     = logits[t][tok[t+1]] − logsumexp(logits[t]),        t = 0..S−2
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cpu/thread_pool.h"

namespace evo2::hf {

// x [S, H], norm_f [H], lm_head [V, H]. Fills *log_probs [S−1] and/or *logits [S, V] when
// non-null.
void NemotronHHead(const float* x, int64_t S, int64_t H, const float* norm_f, float eps,
                   const float* lm_head, int64_t V, std::span<const int32_t> tokens,
                   std::vector<float>* log_probs, std::vector<float>* logits,
                   cpu::ThreadPool& pool);

}  // namespace evo2::hf
