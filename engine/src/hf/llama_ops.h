// Llama's MLP nonlinearity (golden/l_eden_a/README.md "Forward pass" step 4); its RMSNorm and
// output head are the HF families' shared ones (hf/hf_ops.h).
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace evo2::hf {

// h[r, f] = SiLU(gate_up[r, f]) · gate_up[r, F + f]: gate_up [rows, 2F] (gate; up), h [rows, F].
void SwiGlu(const float* gate_up, int64_t rows, int64_t F, float* h, ops::ThreadPool& pool);

}  // namespace evo2::hf
