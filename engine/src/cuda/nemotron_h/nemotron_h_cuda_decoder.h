// The NemotronH (Mamba-2 hybrid) family's cached-state Decoder on one GPU (evo2/decoder.h,
// docs/spec/model.md §12, golden/m_hybrid_a/README.md "Forward pass").
//
// State per sequence (cuda/cuda_decoder_slots.h):
//   Mamba layer      conv  [slots, K−1, C] act      ring of the last K−1 conv inputs x‖B‖C
//                    ssm   [slots, n_h, P, N] fp32  the selective state σ of every head
//   attention layer  k, v  [slots, n_kv, cap, d_k] act   keys, values of the KV heads (no
//                          positions in this family), widened to the kernels' head dim d_k
//   MLP layer        —
//
// Prefill: each prompt runs through CudaNemotronHModel's parallel forward; its block observer
// derives each layer's state on the device while the intermediates are in the workspace: the
// conv ring from the last K−1 rows of the raw projection (kernels/hyena_state.cuh), σ by the
// recurrence over the prompt from the conv output and Δ (kernels/mamba_step.cuh LaunchSsmState:
// the SSD scan keeps only the chunk-entry states), K, V from the attention's head-major buffers.
//
// Step: B sequences at once, each at its own position: per layer RMSNorm (ε inside), then
//   Mamba:     in_proj GEMM → conv step + SiLU → SSM step (+ D) → gated group RMSNorm → out_proj
//   attention: q/k/v GEMM → KV append (no rotation) → single-query GQA attention → o_proj
//   MLP:       up GEMM → squared ReLU → down GEMM
// each output accumulated into the fp32 residual; final norm and lm_head to fp32 logits. GEMMs
// on the few-row kernel or cuBLAS (cuda/cuda_decoder_linear.h), the step one CUDA graph per
// (B, KV capacity) (cuda/cuda_decoder_graphs.h), as in the Evo 2 decoder (docs/adr/0006).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cuda/cuda_decoder_slots.h"
#include "cuda/cuda_decoder_step.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "cuda/run_request.h"
#include "evo2/decoder.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

class NemotronHCudaDecoder final : public CachedStateDecoder<DecodeSlots> {
 public:
  NemotronHCudaDecoder(CudaNemotronHModel& model, DecoderOptions options);

  // Device bytes of the state and the step buffers.
  size_t device_bytes() const override;

 private:
  // Slot buffers of one layer (-1 where the layer has none).
  struct LayerState {
    int conv = -1, ssm = -1, k = -1, v = -1;
  };
  template <typename T>
  absl::Status DeriveState(const BlockIntermediates& bi, int64_t slot, int64_t seq);
  absl::Status RunPrompt(RunRequest& req, int64_t slot) override;
  absl::Status AllocateStepBuffers(int64_t batch) override;
  absl::Status EnqueueStep(int64_t batch) override;
  template <typename T>
  absl::Status EnqueueStepTyped(int64_t batch);

  CudaNemotronHModel& model_;
  const hf::NemotronHConfig& config_;
  const DeviceNemotronHWeights& weights_;
  int64_t attn_head_dim_ = 0;  // d_k, the attention kernels' head dim
  std::vector<LayerState> layers_;

  // Step buffers (CachedStateDecoder::EnsureStepBuffers sizes them for B rows).
  kernels::DeviceBuffer x_;        // [B, H] fp32 residual stream
  kernels::DeviceBuffer z_;        // [B, H] act normed layer input
  kernels::DeviceBuffer proj_;     // [B, max(R_in, (n_q + 2n_kv)·d, F)] act projection
  kernels::DeviceBuffer xbc_;      // [B, max(C, n_q·d_k)] act conv output | gated norm | attn out
  kernels::DeviceBuffer q_;        // [B, n_q, d_k] act queries
  kernels::DeviceBuffer y_;        // [B, d_inner] fp32 SSM output
  kernels::DeviceBuffer logits_;   // [B, V] fp32
};

}  // namespace evo2::cuda
