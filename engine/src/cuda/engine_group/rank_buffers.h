// Device scratch of one rank of a CUDA engine group for one record (docs/parallelism.md), sized
// from the rank's local shapes: L = the rank's rows (its zigzag chunks, SequenceSplit::LocalRows),
// Lc = the chunk length, P = the padded sequence (CP·L), and the TP-local widths Hl = H/T,
// Il = I/T, Vl = V/T. Grown on demand, never shrunk (like cuda/workspace.h).
//
//   x            [L, H] fp32      residual stream (replicated over TP, bit-identical)
//   z            [L, H] act       norm output; attention output [L, Hl]
//   big          [L, 3Hl] act     Hyena projections / Wqkv output (the rank's channels or heads)
//   q, a, o      [L, Hl] act      Hyena q, k⊙v, gated output; attention Q, K, V when CP = 1
//   mlp          [min(L, kMlpChunkRows), 2Il] act
//   logits       [min(L, kHeadChunkRows), Vl] fp32
//   lse          [L, 2] fp32      (log-sum-exp, target logit) of the rank's vocabulary columns
//   lse_all      [T, L, 2] fp32   the TP ranks' pairs, all-gathered
//   ids, targets [L] int32        shard-local token ids (V/T = the zero row), shard-local targets
//   hcl          the hcl gate's fp32 scratch for L rows (CP = 1) or 2 chunks of Lc (CP > 1)
//   hcl_end      the end-state kernel's scratch (kernels/hyena_long_cp.cuh), CP > 1
//   end_state    [2, Hl, 16] fp32  the rank's chunks' zero-state end states
//   end_states   [CP, 2, Hl, 16] fp32  all ranks' (all-gathered, rank-major)
//   incoming     [2, Hl, 16] fp32  the true states entering the rank's chunks
//   q_chunk      [heads, Lc, d] act  one chunk's rotated queries (attention, CP > 1)
//   ext_in       [2, region, 3Hl] act   FIR inputs with their halo rows (device_halo.h)
//   ext_q, ext_o [2, region, Hl] act    q and the output in the same layout
//   gathered     [P, 3Hl] act     CP all-gather target (rank-major); then Q, K, V
//                                 [3, heads, P, d] over the whole sequence (attention, CP > 1)
//   natural      [P, 3Hl] act     the same rows in natural order
//   staging      [L, H] fp32      a hidden state on its way out (allocated when first asked for)
//   host         pinned host fp32, max([L, H], [head rows, Vl], [TP, L, 2]): results on their
//                way out. Pinned, so that a copy out returns at once and the rank then waits
//                with WaitForStream (a copy into pageable memory blocks the host until it is
//                done, which a collective whose peer never joins would make forever).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct RankShape {
  int64_t H = 0, Hl = 0, Il = 0, Vl = 0;
  int tp = 1, cp = 1;
  int64_t L = 0, Lc = 0, P = 0;
  int64_t ext_rows = 0;  // rows of one chunk's halo region, the widest filter's (device_halo.h)
  size_t act_bytes = 2;  // sizeof the activation type
};

// Page-locked host memory (cudaMallocHost), grown on demand.
class PinnedHostFloats {
 public:
  PinnedHostFloats() = default;
  PinnedHostFloats(const PinnedHostFloats&) = delete;
  PinnedHostFloats& operator=(const PinnedHostFloats&) = delete;
  ~PinnedHostFloats();
  absl::Status Ensure(size_t count);
  float* data() const { return data_; }

 private:
  float* data_ = nullptr;
  size_t count_ = 0;
};

class RankBuffers {
 public:
  // Makes every buffer large enough for `shape` (on the current device).
  absl::Status Ensure(const RankShape& shape);
  size_t bytes() const;

  kernels::DeviceBuffer x, z, big, q, a, o, mlp, logits, lse, lse_all, ids, targets, hcl, hcl_end,
      end_state, end_states, incoming, q_chunk, ext_in, ext_q, ext_o, gathered, natural;
  kernels::DeviceBuffer staging;
  PinnedHostFloats host;
  // Grows `b` to `bytes` (releasing the old allocation first).
  static absl::Status Grow(kernels::DeviceBuffer& b, size_t bytes);
};

}  // namespace evo2::cuda
