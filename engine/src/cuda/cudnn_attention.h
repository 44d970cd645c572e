// Causal softmax attention through cuDNN's fused (flash) attention engines, bf16 (spec
// docs/spec/model.md §8; the own mma.sync kernel reaches 217–264 TFLOP/s on an H200,
// cuDNN's sm90 flash kernel, which the reference uses through PyTorch SDPA, ≈ 600).
//
// Same contract as kernels::LaunchCausalAttention<__nv_bfloat16>:
//   out[b, t, h·d + i] = Σ_{τ≤t} softmax_τ(q_t·k_τ / √d) · v[τ, i]
//   q, k, v: [batch, heads, seq, d] bf16 contiguous; out: [batch, seq, heads·d] bf16.
// fp32 scores and softmax statistics inside the engine; P rounded to bf16 for P·V.
//
// cuDNN is loaded at run time (cudnn_api.h): Create returns Unavailable where libcudnn.so.9 is
// missing, and the caller keeps its own kernel. Plans are built per shape (graph → heuristics →
// plan) and cached, at most kMaxCachedPlans of them (least recently used dropped): the predict
// path sees many lengths. Measured on an H200 with cuDNN 9.14: a plan build takes 40–80 ms, the
// first in a process 0.7–0.8 s (cuDNN's own initialisation) and one for a new kernel variant up to
// 1.3 s (run-time compilation); so Prepare belongs outside timed regions. Run builds a missing
// plan itself. Rates (same machine, 1 × 32 heads × d 128, causal): 650–690 TFLOP/s at 32 768
// tokens, 561–574 at 131 072, 511 at 1 048 576; the own kernel 265–272 on the same shapes.
// Engine 2 (the heuristics' first choice) was the fastest of the 4 configurations offered.
//
// Not thread-safe: one instance per stream / model, used from one thread at a time.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn_graph.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cuda/cudnn_api.h"
#include "cuda/cudnn_sdpa_graph.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

class CudnnAttention {
 public:
  static constexpr size_t kMaxCachedPlans = 16;

  ~CudnnAttention();
  CudnnAttention(const CudnnAttention&) = delete;
  CudnnAttention& operator=(const CudnnAttention&) = delete;

  // Loads cuDNN and creates one handle bound to `stream` (on the current device).
  static absl::StatusOr<std::unique_ptr<CudnnAttention>> Create(cudaStream_t stream);

  // Builds (or finds) the plan for this shape and grows the workspace to it. Unimplemented, with
  // cuDNN's last error text, when no engine supports the shape (e.g. the head dim).
  absl::Status Prepare(int64_t batch, int64_t heads, int64_t seq, int64_t head_dim);

  // Enqueues the attention on the stream given to Create.
  absl::Status Run(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                   __nv_bfloat16* out, int64_t batch, int64_t heads, int64_t seq,
                   int64_t head_dim);

  // Device scratch held for the plans' workspaces (bytes).
  size_t workspace_bytes() const { return workspace_.bytes(); }
  // cuDNN's version as loaded (e.g. 91400 for 9.14.0).
  size_t cudnn_version() const { return version_; }
  // The cached plan of a shape (nullptr if none): its build time, engine and workspace, for logs.
  const SdpaPlan* FindPlan(int64_t batch, int64_t heads, int64_t seq, int64_t head_dim) const;
  size_t cached_plans() const { return plans_.size(); }

 private:
  CudnnAttention(const CudnnApi* api, cudnnHandle_t handle, cudaStream_t stream, size_t version)
      : api_(api), handle_(handle), stream_(stream), version_(version) {}
  // The plan of `shape`, built if missing; moved to the front (most recently used).
  absl::StatusOr<const SdpaPlan*> PlanFor(const SdpaShape& shape);

  const CudnnApi* api_;
  cudnnHandle_t handle_;
  cudaStream_t stream_;
  size_t version_;
  std::list<std::unique_ptr<SdpaPlan>> plans_;  // most recently used first
  kernels::DeviceBuffer workspace_;            // [max plan workspace] bytes
};

}  // namespace evo2::cuda
