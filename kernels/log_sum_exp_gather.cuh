// The two per-row numbers of a log-softmax over a vocabulary split in column shards (Megatron's
// vocab-parallel cross entropy; docs/parallelism.md §1): for one shard's logit columns
//   lse[r]    = log Σ_j exp(logits[r, j])                 (fp32, max-subtracted)
//   picked[r] = logits[r, target[r]]  if 0 ≤ target[r] < vocab, else 0
// The shards' pairs combine to the full log-probability lp = Σ_s picked_s − logsumexp_s(lse_s),
// so only two floats per row, never the logits, cross between shards.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// logits: [rows, vocab] fp32; targets: [rows] int32 (device, shard-local column or -1);
// lse_picked: [rows, 2] fp32 (lse, picked) interleaved.
absl::Status LaunchLogSumExpGather(const float* logits, const int32_t* targets, float* lse_picked,
                                   int64_t rows, int64_t vocab, cudaStream_t stream);

}  // namespace evo2::kernels
