// The causal scaled-dot-product attention forward as a cuDNN 9 backend operation graph, and its
// execution plan (docs/spec/model.md §8: softmax(q·kᵀ/√d + causal mask)·v).
//
// The graph is the decomposed form that cuDNN's fused flash-attention engines recognise (the
// pattern its frontend's SDPA node lowers to for cuDNN 9 before the single SDPA operation
// existed), so it runs on cuDNN 9.14 as well as on newer releases:
//
//   S  = Q · Kᵀ                     matmul, fp32 accumulation, S virtual fp32 [B, h, s, s]
//   S1 = S · scale                  pointwise MUL with a by-value fp32 scalar (1/√d)
//   row, col = index along s_q, s_kv  pointwise GEN_INDEX (axis 2, 3), virtual int32
//   keep = row ≥ col                pointwise CMP_GE, virtual boolean
//   S2 = keep ? S1 : −inf           pointwise BINARY_SELECT with a by-value −inf
//   m = max_j S2, e = exp(S2 − m), l = Σ_j e    reductions MAX / ADD over the key axis
//   stats = m + log l               (virtual; the pattern carries it even when unused)
//   P = e / l                       virtual, in the input type (bf16): what the engine feeds
//                                   its second MMA, as flash attention does
//   O = P · V                       matmul, written with the caller's strides
//
// Layouts: Q, K, V [B, h, s, d] contiguous; Kᵀ is K seen as [B, h, d, s] (strides swapped, no
// copy); O is [B, s, h·d] memory, described as [B, h, s, d] with strides (s·h·d, d, h·d, 1).
#pragma once

#include <cudnn_graph.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/cudnn_api.h"

namespace evo2::cuda {

struct SdpaShape {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t seq = 0;
  int64_t head_dim = 0;
  bool operator==(const SdpaShape&) const = default;
};

// Unique ids of the graph's non-virtual tensors: the variant pack's keys. The two scalars are
// passed by value (the variant pack points at host floats).
enum SdpaTensorUid : int64_t {
  kSdpaUidQ = 1,
  kSdpaUidK = 2,
  kSdpaUidV = 3,
  kSdpaUidO = 4,
  kSdpaUidScale = 5,
  kSdpaUidNegInf = 6,
};

// A finalized execution plan for one shape, with every descriptor it was built from (kept alive
// for the plan's lifetime).
struct SdpaPlan {
  SdpaShape shape;
  std::vector<BackendDescriptor> parts;  // tensors, operations, graph, engine configuration
  BackendDescriptor plan;
  int64_t workspace_bytes = 0;
  int64_t engine_index = -1;       // cuDNN's global engine index (for the log), −1 if unknown
  int64_t candidates_tried = 0;    // engine configurations tried before one finalized
  double build_ms = 0;             // wall time of graph + heuristics + plan finalization
};

// Builds the graph for `shape` in bf16 and finalizes the first engine configuration that cuDNN's
// heuristics (mode A, then the fallback list) propose and that accepts it; with `choice` = k > 0
// the (k+1)-th such configuration instead (for timing the alternatives). InvalidArgument for
// non-positive sizes; Unimplemented, with cuDNN's last error text, when no (further) engine
// supports the graph (e.g. an unsupported head dim).
absl::StatusOr<std::unique_ptr<SdpaPlan>> BuildCausalSdpaPlan(const CudnnApi& api,
                                                              cudnnHandle_t handle,
                                                              const SdpaShape& shape,
                                                              int64_t choice = 0);

// Enqueues `plan` on the handle's stream: q, k, v [B, h, s, d] bf16, out [B, s, h·d] bf16, each
// 16-byte aligned; `workspace` at least plan.workspace_bytes of device memory.
absl::Status ExecuteSdpaPlan(const CudnnApi& api, cudnnHandle_t handle, const SdpaPlan& plan,
                             const void* q, const void* k, const void* v, void* out,
                             void* workspace);

}  // namespace evo2::cuda
