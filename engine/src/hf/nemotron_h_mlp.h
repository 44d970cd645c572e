// The MLP mixer of a NemotronH '-' layer (golden/m_hybrid_a/README.md "MLP mixer"): not gated,
// squared ReLU (`mlp_hidden_act: relu2`), no biases:
//   out = W_down · (ReLU(W_up·u))²      W_up [F, H], W_down [H, F]
// Position-wise, so it runs in row chunks that bound the [chunk, F] intermediate.
#pragma once

#include <cstdint>
#include <vector>

#include "hf/nemotron_h_weights.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

// Positions per chunk: [1024, F] fp32 is 88 MB for the 8B layout (F = 21504).
inline constexpr int64_t kMlpChunkTokens = 1024;

// u [S, H] -> out [S, H]; `scratch` is resized to [min(S, chunk), F].
void SquaredReluMlp(const NemotronHMlpWeights& w, const float* u, int64_t S, int64_t H, int64_t F,
                    float* out, std::vector<float>& scratch, ops::ThreadPool& pool);

}  // namespace evo2::hf
