// Next-token log-probabilities from a chunk of logits (docs/spec/model.md §3 scoring):
//   lp[r] = logits[r, target[r]] − log Σ_j exp(logits[r, j])     (fp32, max-subtracted)
// Rows whose target is negative get lp = 0 (the last position of a sequence has no next token).
// The caller runs it chunk by chunk so the [S, vocab] logits never exist for a whole sequence.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// logits: [rows, vocab] fp32; targets: [rows] int32 (device); lp: [rows] fp32.
absl::Status LaunchLogSoftmaxGather(const float* logits, const int32_t* targets, float* lp,
                                    int64_t rows, int64_t vocab, cudaStream_t stream);

}  // namespace evo2::kernels
