#include "cuda/engine_group/rank_buffers.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>

#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"

namespace evo2::cuda {
namespace {}  // namespace

absl::Status RankBuffers::Grow(kernels::DeviceBuffer& b, size_t bytes) {
  if (b.bytes() >= bytes) return absl::OkStatus();
  b = kernels::DeviceBuffer();  // release before allocating the larger one
  ASSIGN_OR_RETURN(b, kernels::DeviceBuffer::Allocate(bytes));
  return absl::OkStatus();
}

PinnedHostFloats::~PinnedHostFloats() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

absl::Status PinnedHostFloats::Ensure(size_t count) {
  if (count <= count_) return absl::OkStatus();
  if (data_ != nullptr) CUDA_RETURN_IF_ERROR(cudaFreeHost(data_));
  data_ = nullptr;
  count_ = 0;
  void* p = nullptr;
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&p, count * sizeof(float)));
  data_ = static_cast<float*>(p);
  count_ = count;
  return absl::OkStatus();
}

absl::Status RankBuffers::Ensure(const RankShape& s) {
  const size_t act = s.act_bytes, f32 = sizeof(float);
  const auto n = [](int64_t v) { return static_cast<size_t>(v); };
  const int64_t mlp_rows = std::min(s.L, kMlpChunkRows), head_rows = std::min(s.L, kHeadChunkRows);
  const bool split = s.cp > 1;
  RETURN_IF_ERROR(Grow(x, n(s.L * s.H) * f32));
  RETURN_IF_ERROR(Grow(z, n(s.L * s.H) * act));
  RETURN_IF_ERROR(Grow(big, n(s.L * 3 * s.Hl) * act));
  for (kernels::DeviceBuffer* b : {&q, &a, &o}) RETURN_IF_ERROR(Grow(*b, n(s.L * s.Hl) * act));
  RETURN_IF_ERROR(Grow(mlp, n(mlp_rows * 2 * s.Il) * act));
  RETURN_IF_ERROR(Grow(logits, n(head_rows * s.Vl) * f32));
  RETURN_IF_ERROR(Grow(lse, n(s.L * 2) * f32));
  RETURN_IF_ERROR(Grow(lse_all, n(s.tp * s.L * 2) * f32));
  RETURN_IF_ERROR(Grow(ids, n(s.L) * sizeof(int32_t)));
  RETURN_IF_ERROR(Grow(targets, n(s.L) * sizeof(int32_t)));
  RETURN_IF_ERROR(host.Ensure(std::max({n(s.L * s.H), n(head_rows * s.Vl), n(s.tp * s.L * 2)})));
  RETURN_IF_ERROR(Grow(hcl, split ? kernels::HyenaLongWorkspaceBytes(2, s.Lc, s.Hl)
                                  : kernels::HyenaLongWorkspaceBytes(1, s.L, s.Hl)));
  if (split) {
    RETURN_IF_ERROR(Grow(ext_in, n(2 * s.ext_rows * 3 * s.Hl) * act));
    RETURN_IF_ERROR(Grow(ext_q, n(2 * s.ext_rows * s.Hl) * act));
    RETURN_IF_ERROR(Grow(ext_o, n(2 * s.ext_rows * s.Hl) * act));
    RETURN_IF_ERROR(Grow(gathered, n(s.P * 3 * s.Hl) * act));
    RETURN_IF_ERROR(Grow(natural, n(s.P * 3 * s.Hl) * act));
    RETURN_IF_ERROR(Grow(q_chunk, n(s.Lc * s.Hl) * act));
    RETURN_IF_ERROR(Grow(hcl_end, kernels::HyenaLongEndStateWorkspaceBytes(2, s.Lc, s.Hl)));
    RETURN_IF_ERROR(Grow(end_state, n(2 * s.Hl * 16) * f32));
    RETURN_IF_ERROR(Grow(end_states, n(s.cp * 2 * s.Hl * 16) * f32));
    RETURN_IF_ERROR(Grow(incoming, n(2 * s.Hl * 16) * f32));
  }
  return absl::OkStatus();
}

size_t RankBuffers::bytes() const {
  size_t total = 0;
  for (const kernels::DeviceBuffer* b :
       {&x,        &z,       &big,    &q,       &a,     &o,        &mlp,       &logits,
        &lse,      &lse_all, &ids,    &targets, &hcl,   &hcl_end,  &end_state, &end_states,
        &incoming, &q_chunk, &ext_in, &ext_q,   &ext_o, &gathered, &natural,   &staging})
    total += b->bytes();
  return total;
}

}  // namespace evo2::cuda
