// Llama's per-position pieces that differ from Evo 2's (golden/l_eden_a/README.md "Forward
// pass"): RMSNorm with ε inside the square root, SwiGLU, and the untied output head.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cpu/thread_pool.h"

namespace evo2::hf {

// y = w ⊙ x / sqrt(mean_j(x_j²) + ε) per row (transformers' LlamaRMSNorm, fp32).
// x, y [S, H] row-major (may alias), w [H].
void LlamaRmsNorm(const float* x, int64_t S, int64_t H, const float* w, float eps, float* y,
                  cpu::ThreadPool& pool);

// h[r, f] = SiLU(gate_up[r, f]) · gate_up[r, F + f]: gate_up [rows, 2F] (gate; up), h [rows, F].
void SwiGlu(const float* gate_up, int64_t rows, int64_t F, float* h, cpu::ThreadPool& pool);

struct LlamaHeadOutputs {
  std::vector<float>* log_probs = nullptr;  // [S-1] when non-null
  std::vector<float>* logits = nullptr;     // [S, V] when non-null
};

// logits[s] = W_head · LlamaRmsNorm(x[s]; final_norm), lp[s] = log_softmax(logits[s])[t[s+1]];
// fused over chunks of positions so only a [chunk, V] block exists unless logits are asked for.
// x [S, H], final_norm [H], head [V, H].
void LlamaHead(const float* x, int64_t S, int64_t H, const float* final_norm, float eps,
               const float* head, int64_t V, std::span<const int32_t> tokens,
               const LlamaHeadOutputs& outputs, cpu::ThreadPool& pool);

}  // namespace evo2::hf
