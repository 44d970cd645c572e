// Device scratch for one Llama forward of `batch` sequences of `seq` tokens (R = batch·seq
// rows), allocated once per shape and reused. Only per-position buffers grow with R; the MLP's
// [rows, 2F] and the head's [rows, V] run in bounded row chunks (cuda/workspace.h's chunk sizes),
// so a 131 072-token record of the 8B shape needs ~9 GB here (docs/families.md).
//
//   x        : [R, H] fp32                 residual stream (kernels/rms_norm.cuh explains fp32)
//   z        : [R, max(H, n_q·d)] act      norm output, then the attention output
//   qkv      : [R, (n_q + 2 n_kv)·d] act   fused projection
//   q        : [B, n_q, S, d] act          rotated queries, head-major
//   k, v     : [B, n_q, S, d] act          keys/values: n_kv heads natively, n_q when repeated
//                                          for cuDNN (kernels/rotary_gqa.cuh)
//   mlp      : [min(R, kMlpChunkRows), 2F] act
//   logits   : [min(R, kHeadChunkRows), V] fp32
//   tokens, targets : [R] int32;  log_probs : [R] fp32
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "evo2/tensor.h"
#include "hf/llama_config.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

// Bytes Ensure allocates for (batch, seq).
size_t PlannedLlamaWorkspaceBytes(const hf::LlamaConfig& config, DType act, int64_t batch,
                                  int64_t seq);

class LlamaWorkspace {
 public:
  // Makes the buffers large enough for (batch, seq); keeps them when they already are.
  absl::Status Ensure(const hf::LlamaConfig& config, DType act, int64_t batch, int64_t seq);
  size_t bytes() const;

  kernels::DeviceBuffer x, z, qkv, q, k, v, mlp, logits, tokens, targets, log_probs;

 private:
  int64_t rows_ = 0;
};

}  // namespace evo2::cuda
