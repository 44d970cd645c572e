// Device scratch for one NemotronH forward of `batch` sequences of `seq` tokens (rows R =
// batch·seq), planned from the config and allocated up front. Buffers a layer kind needs exist
// only when the pattern has that kind; the MLP and the head run in row chunks of bounded size
// (cuda/workspace.h kMlpChunkRows, kHeadChunkRows).
//
//   x         : [R, H] fp32    residual stream (fp32 in every mode, as the Hyena path)
//   z         : [R, H] act     a layer's normed input; the final norm
//   proj      : [R, max(in_proj rows, (n_q+2n_kv)·d)] act   Mamba z‖xBC‖dt | attention q‖k‖v
//   xbc       : [R, d_inner + 2GN] act   conv + SiLU output, then the gated norm's output
//   y         : [R, d_inner] fp32        SSD scan output
//   scan      : kernels/ssd_scan.cuh SsdScanWorkspaceBytes (chunk states, Δ, decays)
//   attn      : [4, R, n_q·d_k] act      Q, K, V head-major (K/V heads repeated, head dim widened
//                                        to the kernels' d_k with zeros), output
//   mlp       : [min(R, kMlpChunkRows), F] act
//   logits    : [min(R, kHeadChunkRows), V] fp32
//   tokens, targets : [R] int32;  log_probs : [R] fp32
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "evo2/tensor.h"
#include "hf/nemotron_h_config.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct NemotronHWorkspacePlan {
  size_t x = 0, z = 0, proj = 0, xbc = 0, y = 0, scan = 0, attn = 0, mlp = 0, logits = 0,
         tokens = 0, log_probs = 0;
  size_t total() const {
    return x + z + proj + xbc + y + scan + attn + mlp + logits + 2 * tokens + log_probs;
  }
};

NemotronHWorkspacePlan PlanNemotronHWorkspace(const hf::NemotronHConfig& config, DType act,
                                              int64_t batch, int64_t seq);

class NemotronHWorkspace {
 public:
  // Makes the buffers large enough for (batch, seq); keeps them when already large enough.
  absl::Status Ensure(const hf::NemotronHConfig& config, DType act, int64_t batch, int64_t seq);
  size_t bytes() const { return plan_.total(); }

  kernels::DeviceBuffer x, z, proj, xbc, y, scan, attn, mlp, logits, tokens, targets, log_probs;

 private:
  NemotronHWorkspacePlan plan_;
};

}  // namespace evo2::cuda
