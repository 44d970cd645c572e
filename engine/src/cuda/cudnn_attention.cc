#include "cuda/cudnn_attention.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {

CudnnAttention::~CudnnAttention() {
  // Queued work may still run kernels of these plans (a device-wide wait: the owner may already
  // have destroyed the stream). Plans reference the handle: destroyed first.
  cudaDeviceSynchronize();
  plans_.clear();
  if (handle_ != nullptr) api_->Destroy(handle_);
}

absl::StatusOr<std::unique_ptr<CudnnAttention>> CudnnAttention::Create(cudaStream_t stream) {
  ASSIGN_OR_RETURN(const CudnnApi* api, CudnnApi::Load());
  const CudnnApi& a = *api;
  cudnnHandle_t handle = nullptr;
  RETURN_IF_ERROR(a.Check(a.Create(&handle), "cudnnCreate"));
  const absl::Status bound = a.Check(a.SetStream(handle, stream), "cudnnSetStream");
  if (!bound.ok()) {
    a.Destroy(handle);
    return bound;
  }
  return std::unique_ptr<CudnnAttention>(new CudnnAttention(api, handle, stream, a.GetVersion()));
}

const SdpaPlan* CudnnAttention::FindPlan(int64_t batch, int64_t heads, int64_t seq,
                                         int64_t head_dim) const {
  const SdpaShape shape{batch, heads, seq, head_dim};
  for (const auto& p : plans_) {
    if (p->shape == shape) return p.get();
  }
  return nullptr;
}

absl::StatusOr<const SdpaPlan*> CudnnAttention::PlanFor(const SdpaShape& shape) {
  for (auto it = plans_.begin(); it != plans_.end(); ++it) {
    if ((*it)->shape == shape) {
      plans_.splice(plans_.begin(), plans_, it);
      return plans_.front().get();
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SdpaPlan> built, BuildCausalSdpaPlan(*api_, handle_, shape));
  const size_t need = static_cast<size_t>(built->workspace_bytes);
  if (need > workspace_.bytes()) {
    // Work already queued may still use the old buffer.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    workspace_.Reset();
    ASSIGN_OR_RETURN(workspace_, kernels::DeviceBuffer::Allocate(need));
  }
  if (plans_.size() >= kMaxCachedPlans) {
    // A plan may own the module of a run-time compiled kernel: nothing queued may still use the
    // one dropped.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    while (plans_.size() >= kMaxCachedPlans) plans_.pop_back();
  }
  plans_.push_front(std::move(built));
  return plans_.front().get();
}

absl::Status CudnnAttention::Prepare(int64_t batch, int64_t heads, int64_t seq,
                                     int64_t head_dim) {
  return PlanFor(SdpaShape{batch, heads, seq, head_dim}).status();
}

absl::Status CudnnAttention::Run(const __nv_bfloat16* q, const __nv_bfloat16* k,
                                 const __nv_bfloat16* v, __nv_bfloat16* out, int64_t batch,
                                 int64_t heads, int64_t seq, int64_t head_dim) {
  // The graph declares 16-byte aligned tensors.
  for (const void* p : {static_cast<const void*>(q), static_cast<const void*>(k),
                        static_cast<const void*>(v), static_cast<const void*>(out)}) {
    if (p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cuDNN attention: q/k/v/out must be non-null and 16-byte aligned (got ",
                       reinterpret_cast<uintptr_t>(p), ")"));
    }
  }
  ASSIGN_OR_RETURN(const SdpaPlan* plan, PlanFor(SdpaShape{batch, heads, seq, head_dim}));
  return ExecuteSdpaPlan(*api_, handle_, *plan, q, k, v, out, workspace_.get());
}

}  // namespace evo2::cuda
