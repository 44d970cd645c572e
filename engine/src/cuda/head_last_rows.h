// The head of a decoder's prefill (RunRequest::head_last_rows_only): the logits of each
// sequence's last position only, [batch, V] fp32, instead of [batch·seq, V]. Used by RunChunkedHead
// (chunked_head.h) for every CUDA family.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "cuda/gemm.h"
#include "evo2/tensor.h"

namespace evo2::cuda {

// normed: [batch·seq, H] `act` (the final norm's output); head: [V, H] act; logits: device
// scratch of [min(batch, kHeadChunkRows), V] fp32; logits_host: [batch, V] or nullptr. Row b is
// normed row b·seq + seq − 1 (one GEMM over rows seq·H apart per chunk).
absl::Status HeadOnLastRows(GemmRunner& gemm, DType act, const void* normed, int64_t batch,
                            int64_t seq, int64_t hidden, const void* head, int64_t vocab,
                            float* logits, float* logits_host, cudaStream_t stream);

}  // namespace evo2::cuda
