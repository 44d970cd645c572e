// The output head of every cuda-backend family (docs/spec/model.md §5, §3 scoring): the final
// RMSNorm's output z times the head weight, chunk by chunk into one fp32 logits buffer of at
// most kHeadChunkRows rows, then log-softmax + target gather per chunk, so the [R, V] logits
// never exist at once on the device:
//   logits[r, :] = z[r, :]·Wᵀ        lp[r] = logits[r, t_r] − log Σ_j exp(logits[r, j])
// The caller runs the family's own final norm first (the three families normalise differently);
// everything after it is the same for Evo 2, Llama and NemotronH and lives here.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/gemm.h"
#include "cuda/run_request.h"
#include "evo2/tensor.h"

namespace evo2::cuda {

// Device operands of the head. R = batch·seq rows.
struct ChunkedHeadOperands {
  const void* z = nullptr;           // [R, H] `operand` dtype, the final RMSNorm's output
  const void* weight = nullptr;      // [V, H] `operand` dtype, the (tied or separate) head weight
  DType operand = DType::kBFloat16;  // dtype of z and weight (the GEMM's operands)
  int64_t batch = 0, seq = 0, hidden = 0, vocab = 0;
  float* logits = nullptr;           // [min(R, kHeadChunkRows), V] fp32 workspace
  const int32_t* targets = nullptr;  // [R] int32 device, −1 = no log-prob at that row
  float* log_probs = nullptr;        // [R] fp32 device
};

// What it does, read from `r`:
//  - r.head_last_rows_only: logits of each sequence's last row only, into r.logits_host
//    [batch, V] (generation prefill, head_last_rows.h); needs logits_host.
//  - otherwise, when log-probs are wanted (r.targets_host set or r.tokens_on_device) or
//    r.logits_host is set: the chunked head; logits copied per chunk to r.logits_host
//    [R, V], log-probs to r.log_probs_host [R] at the end (each copy waited for).
// r.timer (optional) gets a "head_logsoftmax" mark per chunk. Runs on `stream`, which must be
// the stream `gemm` was created on.
absl::Status RunChunkedHead(const ChunkedHeadOperands& head, const RunRequest& r, GemmRunner& gemm,
                            cudaStream_t stream);

}  // namespace evo2::cuda
