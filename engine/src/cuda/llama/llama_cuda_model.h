// The Llama ("Eden") family on one NVIDIA GPU (golden/l_eden_a/README.md "Forward pass"): bf16
// weights and activations with an fp32 residual stream and fp32 softmax statistics, or fp32
// throughout (Precision::kFp32, for checking against the goldens). Same outputs as the Hyena
// cuda backend (evo2/model.h): log-probs (fused head + log-softmax, never the whole [S, V]
// logits), logits, the CPU Llama model's named layers, batches of unequal lengths and
// cancellation between layers.
//
// Per layer (llama_cuda_forward.cc): RMSNorm (ε inside the root) → fused q/k/v GEMM → RoPE with
// the config's (llama3-scaled) frequencies and the split into heads → causal GQA attention →
// o_proj GEMM accumulated into the residual → RMSNorm → gate/up GEMM → SwiGLU → down GEMM
// accumulated into the residual, the MLP in row chunks. Attention: cuDNN's fused flash attention
// (K/V heads repeated to the query heads on the way, cudnn_attention.h has no GQA) where
// cuDNN loads and a plan pays (cudnn_plan_policy.h), else the own GQA kernel
// (kernels/attention.cuh). EVO2_CUDA_ATTENTION=auto|cudnn|own|v2 as for the Hyena family.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/cuda_model.h"  // RunRequest
#include "cuda/gemm.h"
#include "cuda/llama/llama_cuda_weights.h"
#include "cuda/llama/llama_cuda_workspace.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "hf/llama_config.h"
#include "kernels/attention.cuh"
#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_plan_policy.h"
#endif

namespace evo2::cuda {

class LlamaCudaModel final : public Model {
 public:
  ~LlamaCudaModel() override;
  static absl::StatusOr<std::unique_ptr<LlamaCudaModel>> Create(hf::LlamaConfig config,
                                                                LlamaDeviceWeights weights);

  const ModelConfig& config() const override { return model_config_; }
  std::string backend_name() const override;
  std::optional<size_t> device_memory_bytes() const override { return device_bytes(); }
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;
  absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) override;
  // The cached-state decoder (cuda/llama/llama_cuda_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;

  // Grows the workspace (and builds a cuDNN plan where the policy says so) for (batch, seq);
  // the benchmark calls it before timing.
  absl::Status Reserve(int64_t batch, int64_t seq);
  // One device pass over request.batch right-padded sequences (the benchmark times this).
  // hidden_host keys: -1 = embedding, l = after layer l.
  absl::Status Run(const RunRequest& request);
  LlamaWorkspace& workspace() { return workspace_; }
  const hf::LlamaConfig& llama_config() const { return config_; }
  // Device bytes held: weights, workspace, cuBLASLt and cuDNN scratch.
  size_t device_bytes() const;
  const std::string& attention_note() const { return attention_note_; }
  cudaStream_t stream() const { return stream_; }
  GemmRunner& gemm() { return *gemm_; }
  const LlamaDeviceWeights& weights() const { return weights_; }

 private:
  LlamaCudaModel(hf::LlamaConfig config, LlamaDeviceWeights weights);
  template <typename T>
  absl::Status RunTyped(const RunRequest& request);
  // True when this pass's attention runs on cuDNN (a plan exists for the shape).
  bool UseCudnn(int64_t batch, int64_t seq) const;
  template <typename T>
  absl::Status Attention(const T* q, const T* k, const T* v, T* out, int64_t batch, int64_t seq,
                         bool cudnn);

  hf::LlamaConfig config_;
  ModelConfig model_config_;
  LlamaDeviceWeights weights_;
  LlamaWorkspace workspace_;
  cudaStream_t stream_ = nullptr;
  // End of layer i is recorded in layer_done_[i % 2] when a cancellation flag is given.
  cudaEvent_t layer_done_[2] = {nullptr, nullptr};
  std::unique_ptr<GemmRunner> gemm_;
  kernels::AttentionVariant attention_variant_ = kernels::AttentionVariant::kMmaPipelined;
#if EVO2_HAVE_CUDNN
  std::unique_ptr<CudnnAttention> cudnn_attention_;
  std::unique_ptr<CudnnPlanPolicy> cudnn_policy_;
#endif
  std::string attention_note_;
};

}  // namespace evo2::cuda
