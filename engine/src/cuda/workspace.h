// Device scratch for one forward of `batch` sequences of `seq` tokens (rows R = batch·seq),
// planned from the config (allocated up front, once). Memory grows with R only where the
// math needs it: the residual stream and the mixers' per-position buffers. The MLP's [R, 2I]
// and the head's [R, 512] are processed in row chunks of bounded size.
//
//   x             : [R, H] fp32     residual stream (fp32 in every mode, kernels/rms_norm.cuh)
//   z, q, a, o    : [R, H] act      norm output / attention output; Hyena q, k⊙v, gated
//                                   (attention: Q, K, V head-major [B, heads, S, d])
//   big           : [R, 3H] act     Hyena projections / attention Wqkv output
//   mlp           : [mlp_rows, 2I] act
//   hcl           : fp32 chunk states of the hcl recurrence (kernels/hyena_long.cuh)
//   logits        : [head_rows, 512] fp32
//   tokens, targets : [R] int32;  log_probs : [R] fp32
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "evo2/config.h"
#include "evo2/tensor.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

inline constexpr int64_t kMlpChunkRows = 16384;
inline constexpr int64_t kHeadChunkRows = 8192;

struct WorkspacePlan {
  int64_t batch = 0, seq = 0;
  size_t act_bytes = 0, hcl_bytes = 0, mlp_bytes = 0, logits_bytes = 0, io_bytes = 0;
  size_t resid_bytes = 0;
  size_t total() const { return resid_bytes + 4 * act_bytes + 3 * act_bytes + hcl_bytes +
                                mlp_bytes + logits_bytes + io_bytes; }
};

WorkspacePlan PlanWorkspace(const ModelConfig& config, DType act, int64_t batch, int64_t seq);

class Workspace {
 public:
  // Makes the buffers large enough for (batch, seq); keeps them when already large enough.
  absl::Status Ensure(const ModelConfig& config, DType act, int64_t batch, int64_t seq);
  size_t bytes() const;

  kernels::DeviceBuffer x, z, q, a, o, big, mlp, hcl, logits, tokens, targets, log_probs;

 private:
  WorkspacePlan plan_;
};

}  // namespace evo2::cuda
