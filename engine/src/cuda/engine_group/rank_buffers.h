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
//   cp_scratch   CP > 1: one buffer for what the Hyena and the attention blocks need in turn
//                (stream order keeps them apart; docs/parallelism.md §7):
//     Hyena      ext_in [2, region, 3Hl] | ext_q [2, region, Hl] | ext_o [2, region, Hl] act:
//                FIR inputs with their halo rows (device_halo.h), q and the output likewise
//     attention  the K/V gather of one group of g heads (KvGatherLayout below):
//                send [2, g, Lc, d] | gathered [CP, 2, g, Lc, d] | k, v [g, P, d] | out [Lc, g·d]
//   fp8_rows     FP8: one linear's input codes [rows, k] E4M3, then 1/s_t [rows] fp32 (rows ≤ L,
//                k = the input width rounded up to 16)
//   fp8_amax     FP8, TP > 1: [L] fp32 the rank's row amaxes, then [T, L] the TP ranks' gathered
//   staging      [L, H] fp32      a hidden state on its way out (allocated when first asked for)
//   host         pinned host fp32, max([L, H], [head rows, Vl], [TP, L, 2]): results on their
//                way out. Pinned, so that a copy out returns at once and the rank then waits
//                with WaitForStream (a copy into pageable memory blocks the host until it is
//                done, which a collective whose peer never joins would make forever).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "evo2/config.h"
#include "kernels/device_buffer.h"
#include "parallel/sequence_split.h"

namespace evo2::cuda {

struct RankShape {
  int64_t H = 0, Hl = 0, Il = 0, Vl = 0;
  int tp = 1, cp = 1;
  int64_t L = 0, Lc = 0, P = 0;
  int64_t ext_rows = 0;  // rows of one chunk's halo region, the widest filter's (device_halo.h)
  size_t act_bytes = 2;  // sizeof the activation type
  int64_t heads = 0, head_dim = 0;  // the rank's attention heads (n/T) and d
  // Heads per K/V gather (CP > 1): 0 = the most that fit in the Hyena blocks' halo scratch;
  // otherwise the largest divisor of `heads` not above it (tests force small groups).
  int64_t kv_heads_per_gather = 0;
  bool fp8 = false;  // the weights have FP8 copies: fp8_rows and fp8_amax
};

// Bytes of [rows, k] E4M3 codes rounded up to 256, where their [rows] fp32 inverse scales start
// in fp8_rows.
size_t Fp8CodesBytes(int64_t rows, int64_t k);

// The shape of CP rank's buffers for a record split by `split` over TP = `tp` ranks.
inline constexpr int64_t kFeaturizerHalo = 2;  // 3 taps
RankShape MakeRankShape(const ModelConfig& config, const parallel::SequenceSplit& split, int tp,
                        size_t act_bytes);

// cp_scratch offsets are multiples of this many elements (16-byte vector access and more).
inline constexpr int64_t kScratchAlign = 256;
int64_t AlignElements(int64_t n);

// The Hyena blocks' view of cp_scratch, offsets in elements (ext_in at 0).
struct HyenaScratchLayout {
  int64_t ext_q = 0, ext_o = 0, elements = 0;
};
HyenaScratchLayout MakeHyenaScratchLayout(const RankShape& shape);

// The attention's K/V gather over CP for one group of g heads, offsets in elements into
// cp_scratch (docs/parallelism.md §4). `send` packs the group's heads of the rank's own K or V
// [2, heads, Lc, d] (not needed when g = heads: the K/V buffer is sent as it is); `out` holds one
// query chunk's output [Lc, g·d] before it is copied into its columns of [Lc, heads·d] (g < heads).
struct KvGatherLayout {
  int64_t g = 0, groups = 0;  // heads per gather, gathers per K (and per V) per layer
  int64_t send = 0, gathered = 0, k = 0, v = 0, out = 0, elements = 0;
};
KvGatherLayout MakeKvGatherLayout(const RankShape& shape, int64_t g);

// Every device buffer the rank needs for `shape`, by name, and how the K/V gather is cut: the
// figure admission control and the benchmark print (RankBuffers::Ensure allocates exactly this).
struct RankWorkspacePlan {
  struct Buffer {
    const char* name;
    size_t bytes;
  };
  std::vector<Buffer> buffers;
  KvGatherLayout kv;             // CP > 1
  size_t pinned_host_bytes = 0;  // `host`, page-locked host memory (not on the device)
  size_t device_bytes() const;
  size_t bytes_of(const char* name) const;
};
RankWorkspacePlan PlanRankWorkspace(const RankShape& shape);

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
  const RankWorkspacePlan& plan() const { return plan_; }

  kernels::DeviceBuffer x, z, big, q, a, o, mlp, logits, lse, lse_all, ids, targets, hcl, hcl_end,
      end_state, end_states, incoming, cp_scratch, fp8_rows, fp8_amax;
  kernels::DeviceBuffer staging;
  PinnedHostFloats host;
  // Grows `b` to `bytes` (releasing the old allocation first).
  static absl::Status Grow(kernels::DeviceBuffer& b, size_t bytes);

 private:
  RankWorkspacePlan plan_;  // of the last Ensure
};

}  // namespace evo2::cuda
