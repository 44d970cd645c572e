// NemotronH (Mamba-2 hybrid) weights on the GPU (golden/m_hybrid_a/README.md "Forward pass"):
//   activation-typed (bf16, or fp32 in the checking mode): embedding, norms, every GEMM weight;
//   fp32 always: the conv taps and bias, dt_bias, A, D (HF keeps the SSM parameters in fp32 and
//   runs the scan in fp32 in its bf16 path; they are a few thousand values per layer).
// Load-time layout change: an attention layer's q/k/v projections become one [(n_q+2n_kv)·d, H]
// matrix (one GEMM), rows q ‖ k ‖ v.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "hf/nemotron_h_config.h"
#include "hf/nemotron_h_weights.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct DeviceNemotronHLayer {
  hf::NemotronHLayerKind kind = hf::NemotronHLayerKind::kMlp;
  const void* norm = nullptr;  // [H] act, the layer's pre-norm
  // 'M' Mamba-2 mixer.
  const void* in_proj = nullptr;  // [2·d_inner + 2GN + n_h, H] act  rows z ‖ x ‖ B ‖ C ‖ dt
  const float* conv_weight = nullptr;  // [C, K] fp32 (C = d_inner + 2GN)
  const float* conv_bias = nullptr;    // [C] fp32 (zeros without a conv bias)
  const float* dt_bias = nullptr;      // [n_h] fp32
  const float* A = nullptr;            // [n_h] fp32, −exp(A_log)
  const float* D = nullptr;            // [n_h] fp32
  const void* gated_norm = nullptr;    // [d_inner] act
  const void* out_proj = nullptr;      // [H, d_inner] act
  // '*' attention.
  const void* qkv_proj = nullptr;  // [(n_q + 2·n_kv)·d, H] act
  const void* o_proj = nullptr;    // [H, n_q·d_k] act, d_k = AttentionKernelHeadDim(d): each
                                   // head's columns d … d_k−1 are zeros
  // '-' MLP.
  const void* up_proj = nullptr;    // [F, H] act
  const void* down_proj = nullptr;  // [H, F] act
};

// The head dim the attention kernels run at (kernels/attention.cuh and cuDNN have 32, 64 and
// 128): d itself when compiled, else d widened with zero columns (zeros add nothing to q·k or to
// the output), preferring a width d_k with d_k/d a power of 4 so that the score-scale correction
// √(d_k/d) applied to q is a power of two, exact in bf16 (d = 16 → 64, d = 8 → 32). 0 when
// d > 128 (refused at load).
int64_t AttentionKernelHeadDim(int64_t d);

// Device bytes Upload/Random allocate for `config` (memory planning and the benchmark).
size_t PlannedNemotronHWeightBytes(const hf::NemotronHConfig& config, DType act_dtype);

class DeviceNemotronHWeights {
 public:
  DType act_dtype = DType::kBFloat16;
  const void* embedding = nullptr;   // [V, H] act
  const void* final_norm = nullptr;  // [H] act
  const void* lm_head = nullptr;     // [V, H] act (the embedding's buffer when tied)
  std::vector<DeviceNemotronHLayer> layers;
  size_t bytes = 0;  // device memory held

  // Uploads host weights (hf/nemotron_h_weights.h, fp32) converting GEMM weights to `act_dtype`.
  static absl::StatusOr<DeviceNemotronHWeights> Upload(const hf::NemotronHConfig& config,
                                                       const hf::NemotronHWeights& weights,
                                                       DType act_dtype, cudaStream_t stream);
  // Random weights of realistic scale (benchmarks), built on the device.
  static absl::StatusOr<DeviceNemotronHWeights> Random(const hf::NemotronHConfig& config,
                                                       DType act_dtype, uint64_t seed,
                                                       cudaStream_t stream);

 private:
  absl::StatusOr<void*> Allocate(int64_t n, DType dtype);
  std::vector<kernels::DeviceBuffer> buffers_;
};

}  // namespace evo2::cuda
