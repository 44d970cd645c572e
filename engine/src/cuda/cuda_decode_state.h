// Device memory of the CUDA decoder's batch (docs/spec/model.md §12): per block, the recurrent
// state of `slots` sequences, slot i = sequence i of the batch.
//
//   Hyena block   proj_tail [slots, 2, 3H] act    ring of the last two input projections
//   hcs / hcm     fir_tail  [slots, K−1, H] act   ring of the last K−1 values of k ⊙ v
//   hcl           modal     [slots, 16, H] fp32   the modal state s_n of every channel
//   attention     k, v      [slots, heads, kv_cap, d] act   rotated keys, values; row τ = position
//   τ
//
// The layouts are what kernels/hyena_step.cuh and kernels/decode_attention.cuh take. Storage,
// growth and Select's gather are the shared cuda/cuda_decoder_slots.h (a change of `version()`
// tells the decoder that device pointers captured in its CUDA graphs are stale).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "cuda/cuda_decoder_slots.h"
#include "cuda/cuda_weights.h"
#include "evo2/config.h"

namespace evo2::cuda {

// A view of one state buffer (null where the block has none).
struct SlotView {
  void* ptr = nullptr;
  void* get() const { return ptr; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

struct CudaBlockState {
  SlotView proj_tail, fir_tail, modal, k, v;
};

class CudaDecodeState {
 public:
  CudaDecodeState(const ModelConfig& config, const DeviceWeights& weights);

  // Buffers for `slots` sequences and a KV capacity of at least `kv_cap` (contents undefined:
  // the prefill derives every slot's state); the current ones when large enough.
  absl::Status Reset(int64_t slots, int64_t kv_cap) { return slots_.Reset(slots, kv_cap); }
  // Grows the KV capacity to `kv_cap`, keeping rows 0..old cap of every slot.
  absl::Status GrowKv(int64_t kv_cap, cudaStream_t stream) { return slots_.GrowKv(kv_cap, stream); }
  // New slot i ← old slot rows[i] (rows already checked to lie in [0, slots)).
  absl::Status Gather(std::span<const int64_t> rows, cudaStream_t stream) {
    return slots_.Gather(rows, stream);
  }

  // Block i's buffers as they are now (views change when version() does).
  CudaBlockState block(int i) const;
  int64_t slots() const { return slots_.slots(); }
  int64_t kv_cap() const { return slots_.kv_cap(); }
  uint64_t version() const { return slots_.version(); }
  size_t bytes() const { return slots_.bytes(); }

 private:
  struct BlockBuffers {  // DecodeSlots indices, -1 where the block has none
    int proj_tail = -1, fir_tail = -1, modal = -1, k = -1, v = -1;
  };
  DecodeSlots slots_;
  std::vector<BlockBuffers> blocks_;
};

}  // namespace evo2::cuda
