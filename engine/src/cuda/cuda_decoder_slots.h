// Per-sequence device state of a CUDA decoder's batch, for any family (docs/spec/model.md §12):
// a list of buffers, each holding `slots` equal slices, slice i = sequence i of the batch.
//
//   fixed buffer  [slots, bytes_per_slot]               e.g. a Mamba conv tail or SSM state
//   KV buffer     [slots, rows, kv_cap, row_bytes]      e.g. an attention layer's K or V cache
//                                                       (rows = KV heads, row τ = position τ)
//
// The decoder registers its buffers once (AddFixed / AddKv), then Reset sizes them for a
// prefill, GrowKv widens every KV buffer when a sequence outgrows the capacity, and Gather
// implements Decoder::Select. Buffers are kept while large enough and reallocated only to grow:
// a change of `version()` tells the decoder that device pointers captured in its CUDA graphs are
// stale.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "cuda/run_request.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

class DecodeSlots {
 public:
  // Registers a buffer and returns its index for get(). Before the first Reset only.
  int AddFixed(size_t bytes_per_slot);
  int AddKv(int64_t rows, size_t row_bytes);

  // Buffers for `slots` sequences and a KV capacity of at least `kv_cap` (contents undefined:
  // the prefill writes every slot); the current ones when large enough.
  absl::Status Reset(int64_t slots, int64_t kv_cap);
  // Grows the KV capacity to `kv_cap`, keeping positions 0..old cap of every slot.
  absl::Status GrowKv(int64_t kv_cap, cudaStream_t stream);
  // New slot i ← old slot rows[i] (rows already checked to lie in [0, slots)); in place (through
  // a scratch copy) when the buffers hold rows.size() slots, so captured graphs stay valid.
  absl::Status Gather(std::span<const int64_t> rows, cudaStream_t stream);

  void* get(int buffer) const { return buffers_[static_cast<size_t>(buffer)].data.get(); }
  template <typename T>
  T* as(int buffer) const {
    return static_cast<T*>(get(buffer));
  }
  int64_t slots() const { return slots_; }
  int64_t kv_cap() const { return kv_cap_; }
  uint64_t version() const { return version_; }
  size_t bytes() const;

 private:
  struct Buffer {
    size_t fixed_bytes = 0;  // fixed buffer: bytes per slot
    int64_t kv_rows = 0;     // KV buffer: rows per slot, each kv_cap · row_bytes
    size_t row_bytes = 0;
    kernels::DeviceBuffer data;
    size_t SlotBytes(int64_t kv_cap) const {
      return kv_rows > 0 ? static_cast<size_t>(kv_rows * kv_cap) * row_bytes : fixed_bytes;
    }
  };

  std::vector<Buffer> buffers_;
  int64_t slots_ = 0, capacity_ = 0, kv_cap_ = 0;  // slots in use, slots allocated
  uint64_t version_ = 0;
};

// A prefill's K, V of one attention layer (bi.k, bi.v: [1, kv_heads·kv_repeat, seq, d'] act,
// the forward's head-major buffers, KV head g at head g·kv_repeat) into rows 0..seq−1 of `slot`
// of the KV buffers k_buffer, v_buffer ([slots, kv_heads, cap, d'], row_bytes = d'·act): one
// 2-D copy each, enqueued on `stream` (ordered before the forward reuses its buffers).
absl::Status CopyPrefillKv(const BlockIntermediates& bi, int64_t seq, size_t row_bytes,
                           const DecodeSlots& slots, int k_buffer, int v_buffer, int64_t slot,
                           cudaStream_t stream);

// KV capacity for `tokens` cached positions: a power of two ≥ 256 (the step graphs' bucket).
int64_t KvBucket(int64_t tokens);

}  // namespace evo2::cuda
