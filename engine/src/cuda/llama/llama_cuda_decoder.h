// The Llama ("Eden") family's cached-state Decoder on one GPU (evo2/decoder.h,
// docs/spec/model.md §12, golden/l_eden_a/README.md "Forward pass").
//
// State per sequence: each layer's KV cache, rotated keys and values of the KV heads only
// (GQA: n_kv heads, not n_q), [slots, n_kv, cap, d] act (cuda/cuda_decoder_slots.h).
//
// Prefill: each prompt runs through LlamaCudaModel's parallel forward; its block observer copies
// every layer's rotated K, V into the cache while they are in the workspace (the KV heads once
// where the forward repeated them for cuDNN), and the head runs on the last row only.
//
// Step: B sequences at once, each at its own position, the forward's operations on B rows:
// RMSNorm (ε inside the root) → q/k/v GEMM → RoPE at t_b with the config's (llama3-scaled)
// frequency table and KV append (kernels/rotary_gqa.cuh) → single-query GQA attention against
// the cache (kernels/decode_attention.cuh) → o GEMM into the fp32 residual → RMSNorm → gate/up
// GEMM → SwiGLU → down GEMM into the residual; final RMSNorm and the head to fp32 logits. The
// GEMMs are [B, ·] (each weight read once per step for the batch) on the few-row kernel or
// cuBLAS (cuda/cuda_decoder_linear.h); the step is one CUDA graph per (B, KV capacity)
// (cuda/cuda_decoder_graphs.h), as in the Evo 2 decoder (docs/adr/0006).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cuda/cuda_decoder_slots.h"
#include "cuda/cuda_decoder_step.h"
#include "cuda/llama/llama_cuda_model.h"
#include "cuda/run_request.h"
#include "evo2/decoder.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

class LlamaCudaDecoder final : public CachedStateDecoder<DecodeSlots> {
 public:
  LlamaCudaDecoder(LlamaCudaModel& model, DecoderOptions options);

  // Device bytes of the KV cache and the step buffers.
  size_t device_bytes() const override;

 private:
  absl::Status RunPrompt(RunRequest& req, int64_t slot) override;
  absl::Status AllocateStepBuffers(int64_t batch) override;
  absl::Status EnqueueStep(int64_t batch) override;
  template <typename T>
  absl::Status EnqueueStepTyped(int64_t batch);

  LlamaCudaModel& model_;
  const hf::LlamaConfig& config_;
  const LlamaDeviceWeights& weights_;
  std::vector<int> k_, v_;  // per layer: state_ buffers [slots, n_kv, cap, d] act

  // Step buffers (CachedStateDecoder::EnsureStepBuffers sizes them for B rows).
  kernels::DeviceBuffer x_;        // [B, H] fp32 residual stream
  kernels::DeviceBuffer z_;        // [B, max(H, n_q·d)] act norm output | attention output
  kernels::DeviceBuffer qkv_;      // [B, (n_q + 2 n_kv)·d] act
  kernels::DeviceBuffer q_;        // [B, n_q, d] act rotated queries
  kernels::DeviceBuffer mlp_;      // [B, 2F] act gate/up, SwiGLU in the first half
  kernels::DeviceBuffer logits_;   // [B, V] fp32
};

}  // namespace evo2::cuda
