#include "cuda/cuda_decode_state.h"

#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/hyena_long.cuh"

namespace evo2::cuda {

using kernels::DeviceBuffer;

CudaDecodeState::CudaDecodeState(const ModelConfig& config, const DeviceWeights& weights)
    : config_(config),
      weights_(weights),
      act_bytes_(weights.act_dtype == DType::kFloat32 ? 4 : 2),
      blocks_(weights.blocks.size()) {}

CudaDecodeState::SlotBytes CudaDecodeState::SlotBytesOf(int i, int64_t kv_cap) const {
  const DeviceBlockWeights& b = weights_.blocks[static_cast<size_t>(i)];
  const int64_t H = config_.hidden_size;
  SlotBytes s;
  if (b.kind == BlockKind::kAttn) {
    s.kv = static_cast<size_t>(config_.num_heads * kv_cap * config_.head_dim) * act_bytes_;
    return s;
  }
  s.proj_tail = static_cast<size_t>(2 * 3 * H) * act_bytes_;
  if (b.kind == BlockKind::kHcl) {
    s.modal = static_cast<size_t>(kernels::kHyenaLongModes * H) * sizeof(float);
  } else {
    s.fir_tail = static_cast<size_t>((b.fir_length - 1) * H) * act_bytes_;
  }
  return s;
}

absl::Status CudaDecodeState::Reset(int64_t slots, int64_t kv_cap) {
  if (slots <= capacity_ && kv_cap <= kv_cap_) {
    slots_ = slots;
    return absl::OkStatus();
  }
  ++version_;
  capacity_ = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const SlotBytes sb = SlotBytesOf(static_cast<int>(i), kv_cap);
    CudaBlockState& st = blocks_[i];
    st = CudaBlockState{};  // frees the old buffers first
    const auto n = static_cast<size_t>(slots);
    ASSIGN_OR_RETURN(st.proj_tail, DeviceBuffer::Allocate(n * sb.proj_tail));
    ASSIGN_OR_RETURN(st.fir_tail, DeviceBuffer::Allocate(n * sb.fir_tail));
    ASSIGN_OR_RETURN(st.modal, DeviceBuffer::Allocate(n * sb.modal));
    ASSIGN_OR_RETURN(st.k, DeviceBuffer::Allocate(n * sb.kv));
    ASSIGN_OR_RETURN(st.v, DeviceBuffer::Allocate(n * sb.kv));
  }
  slots_ = capacity_ = slots;
  kv_cap_ = kv_cap;
  return absl::OkStatus();
}

absl::Status CudaDecodeState::GrowKv(int64_t kv_cap, cudaStream_t stream) {
  if (kv_cap <= kv_cap_) return absl::OkStatus();
  ++version_;
  const size_t row_old = static_cast<size_t>(kv_cap_ * config_.head_dim) * act_bytes_;
  const size_t row_new = static_cast<size_t>(kv_cap * config_.head_dim) * act_bytes_;
  const size_t rows = static_cast<size_t>(capacity_ * config_.num_heads);  // (slot, head) pairs
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (weights_.blocks[i].kind != BlockKind::kAttn) continue;
    for (DeviceBuffer* buf : {&blocks_[i].k, &blocks_[i].v}) {
      ASSIGN_OR_RETURN(DeviceBuffer grown, DeviceBuffer::Allocate(rows * row_new));
      if (rows > 0)
        CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(grown.get(), row_new, buf->get(), row_old, row_old,
                                               rows, cudaMemcpyDeviceToDevice, stream));
      // The old buffer is freed only after the copy has read it (cudaFree synchronises).
      *buf = std::move(grown);
    }
  }
  kv_cap_ = kv_cap;
  return absl::OkStatus();
}

absl::Status CudaDecodeState::Gather(std::span<const int64_t> rows, cudaStream_t stream) {
  const auto n = rows.size();
  const bool in_place = static_cast<int64_t>(n) <= capacity_;
  if (!in_place) ++version_;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const SlotBytes sb = SlotBytesOf(static_cast<int>(i), kv_cap_);
    CudaBlockState& st = blocks_[i];
    auto gather = [&](DeviceBuffer& buf, size_t slot_bytes) -> absl::Status {
      if (slot_bytes == 0 || n == 0) return absl::OkStatus();
      ASSIGN_OR_RETURN(DeviceBuffer next, DeviceBuffer::Allocate(n * slot_bytes));
      for (size_t j = 0; j < n; ++j) {
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(next.as<char>() + j * slot_bytes,
                                             buf.as<char>() + static_cast<size_t>(rows[j]) * slot_bytes,
                                             slot_bytes, cudaMemcpyDeviceToDevice, stream));
      }
      if (!in_place) {
        buf = std::move(next);
        return absl::OkStatus();
      }
      // Back into the same buffer, so that captured graphs stay valid; `next` is freed after
      // the copy has read it (cudaFree synchronises).
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(buf.get(), next.get(), n * slot_bytes,
                                           cudaMemcpyDeviceToDevice, stream));
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(gather(st.proj_tail, sb.proj_tail));
    RETURN_IF_ERROR(gather(st.fir_tail, sb.fir_tail));
    RETURN_IF_ERROR(gather(st.modal, sb.modal));
    RETURN_IF_ERROR(gather(st.k, sb.kv));
    RETURN_IF_ERROR(gather(st.v, sb.kv));
  }
  slots_ = static_cast<int64_t>(n);
  if (!in_place) capacity_ = slots_;
  return absl::OkStatus();
}

size_t CudaDecodeState::bytes() const {
  size_t total = 0;
  for (const CudaBlockState& b : blocks_)
    total += b.proj_tail.bytes() + b.fir_tail.bytes() + b.modal.bytes() + b.k.bytes() + b.v.bytes();
  return total;
}

}  // namespace evo2::cuda
