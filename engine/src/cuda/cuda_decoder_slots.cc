#include "cuda/cuda_decoder_slots.h"

#include <utility>

#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

using kernels::DeviceBuffer;

int64_t KvBucket(int64_t tokens) {
  int64_t cap = 256;
  while (cap < tokens) cap *= 2;
  return cap;
}

absl::Status CopyPrefillKv(const BlockIntermediates& bi, int64_t seq, size_t row_bytes,
                           const DecodeSlots& slots, int k_buffer, int v_buffer, int64_t slot,
                           cudaStream_t stream) {
  const size_t width = static_cast<size_t>(seq) * row_bytes;
  const size_t src_pitch = static_cast<size_t>(bi.kv_repeat) * width;
  const size_t dst_pitch = static_cast<size_t>(slots.kv_cap()) * row_bytes;
  const size_t offset = static_cast<size_t>(slot * bi.kv_heads) * dst_pitch;
  const auto heads = static_cast<size_t>(bi.kv_heads);
  CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(slots.as<char>(k_buffer) + offset, dst_pitch, bi.k,
                                         src_pitch, width, heads, cudaMemcpyDeviceToDevice,
                                         stream));
  CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(slots.as<char>(v_buffer) + offset, dst_pitch, bi.v,
                                         src_pitch, width, heads, cudaMemcpyDeviceToDevice,
                                         stream));
  return absl::OkStatus();
}

int DecodeSlots::AddFixed(size_t bytes_per_slot) {
  Buffer b;
  b.fixed_bytes = bytes_per_slot;
  buffers_.push_back(std::move(b));
  return static_cast<int>(buffers_.size()) - 1;
}

int DecodeSlots::AddKv(int64_t rows, size_t row_bytes) {
  Buffer b;
  b.kv_rows = rows;
  b.row_bytes = row_bytes;
  buffers_.push_back(std::move(b));
  return static_cast<int>(buffers_.size()) - 1;
}

absl::Status DecodeSlots::Reset(int64_t slots, int64_t kv_cap) {
  if (slots <= capacity_ && kv_cap <= kv_cap_) {
    slots_ = slots;
    return absl::OkStatus();
  }
  ++version_;
  capacity_ = 0;
  for (Buffer& b : buffers_) {
    b.data = DeviceBuffer{};  // frees the old buffer first
    ASSIGN_OR_RETURN(b.data,
                     DeviceBuffer::Allocate(static_cast<size_t>(slots) * b.SlotBytes(kv_cap)));
  }
  slots_ = capacity_ = slots;
  kv_cap_ = kv_cap;
  return absl::OkStatus();
}

absl::Status DecodeSlots::GrowKv(int64_t kv_cap, cudaStream_t stream) {
  if (kv_cap <= kv_cap_) return absl::OkStatus();
  ++version_;
  for (Buffer& b : buffers_) {
    if (b.kv_rows == 0) continue;
    const size_t old_pitch = static_cast<size_t>(kv_cap_) * b.row_bytes;
    const size_t new_pitch = static_cast<size_t>(kv_cap) * b.row_bytes;
    const size_t rows = static_cast<size_t>(capacity_ * b.kv_rows);  // (slot, row) pairs
    ASSIGN_OR_RETURN(DeviceBuffer grown, DeviceBuffer::Allocate(rows * new_pitch));
    if (rows > 0)
      CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(grown.get(), new_pitch, b.data.get(), old_pitch,
                                             old_pitch, rows, cudaMemcpyDeviceToDevice, stream));
    // The old buffer is freed only after the copy has read it (cudaFree synchronises).
    b.data = std::move(grown);
  }
  kv_cap_ = kv_cap;
  return absl::OkStatus();
}

absl::Status DecodeSlots::Gather(std::span<const int64_t> rows, cudaStream_t stream) {
  const size_t n = rows.size();
  const bool in_place = static_cast<int64_t>(n) <= capacity_;
  if (!in_place) ++version_;
  for (Buffer& b : buffers_) {
    const size_t slot_bytes = b.SlotBytes(kv_cap_);
    if (slot_bytes == 0 || n == 0) continue;
    ASSIGN_OR_RETURN(DeviceBuffer next, DeviceBuffer::Allocate(n * slot_bytes));
    for (size_t j = 0; j < n; ++j) {
      CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(next.as<char>() + j * slot_bytes,
                          b.data.as<char>() + static_cast<size_t>(rows[j]) * slot_bytes, slot_bytes,
                          cudaMemcpyDeviceToDevice, stream));
    }
    if (!in_place) {
      b.data = std::move(next);
      continue;
    }
    // Back into the same buffer; `next` is freed after the copy has read it (cudaFree
    // synchronises).
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.data.get(), next.get(), n * slot_bytes,
                                         cudaMemcpyDeviceToDevice, stream));
  }
  slots_ = static_cast<int64_t>(n);
  if (!in_place) capacity_ = slots_;
  return absl::OkStatus();
}

size_t DecodeSlots::bytes() const {
  size_t total = 0;
  for (const Buffer& b : buffers_) total += b.data.bytes();
  return total;
}

}  // namespace evo2::cuda
