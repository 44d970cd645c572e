// Device memory of the CUDA decoder's batch (docs/spec/model.md §12): per block, the recurrent
// state of `slots` sequences, slot i = sequence i of the batch.
//
//   Hyena block   proj_tail [slots, 2, 3H] act    ring of the last two input projections
//   hcs / hcm     fir_tail  [slots, K−1, H] act   ring of the last K−1 values of k ⊙ v
//   hcl           modal     [slots, 16, H] fp32   the modal state s_n of every channel
//   attention     k, v      [slots, heads, kv_cap, d] act   rotated keys, values; row τ = position
//   τ
//
// The layouts are what kernels/hyena_step.cuh and kernels/decode_attention.cuh take. Buffers
// are kept while they are large enough (a generation's next prefill or Select of the same shape
// reuses them) and reallocated only to grow: a change of `version()` tells the decoder that
// device pointers captured in its CUDA graphs are stale.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "cuda/cuda_weights.h"
#include "evo2/config.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct CudaBlockState {
  kernels::DeviceBuffer proj_tail, fir_tail, modal, k, v;
};

class CudaDecodeState {
 public:
  CudaDecodeState(const ModelConfig& config, const DeviceWeights& weights);

  // Buffers for `slots` sequences and a KV capacity of at least `kv_cap` (contents undefined:
  // the prefill derives every slot's state); the current ones when large enough.
  absl::Status Reset(int64_t slots, int64_t kv_cap);
  // Grows the KV capacity to `kv_cap`, keeping rows 0..old cap of every slot.
  absl::Status GrowKv(int64_t kv_cap, cudaStream_t stream);
  // New slot i ← old slot rows[i] (rows already checked to lie in [0, slots)); in place (through
  // a scratch copy) when the buffers hold rows.size() slots.
  absl::Status Gather(std::span<const int64_t> rows, cudaStream_t stream);

  CudaBlockState& block(int i) { return blocks_[static_cast<size_t>(i)]; }
  int64_t slots() const { return slots_; }
  int64_t kv_cap() const { return kv_cap_; }
  uint64_t version() const { return version_; }
  size_t bytes() const;

 private:
  // Bytes of one slot of each buffer of block i (0 where the block has no such buffer).
  struct SlotBytes {
    size_t proj_tail = 0, fir_tail = 0, modal = 0, kv = 0;
  };
  SlotBytes SlotBytesOf(int i, int64_t kv_cap) const;

  const ModelConfig& config_;
  const DeviceWeights& weights_;
  size_t act_bytes_;
  std::vector<CudaBlockState> blocks_;
  int64_t slots_ = 0, capacity_ = 0, kv_cap_ = 0;  // slots in use, slots allocated
  uint64_t version_ = 0;
};

}  // namespace evo2::cuda
