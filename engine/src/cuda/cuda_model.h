// The cuda backend's Model: weights on one GPU, a planned workspace, one stream and one cuBLAS
// handle. Forward/ForwardBatch (evo2/model.h) copy tokens in and results out; Run() is the
// device-side pass the benchmark times directly.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/cuda_weights.h"
#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_plan_policy.h"
#endif
#include "cuda/fp8_gemm.h"
#include "cuda/gemm.h"
#include "cuda/run_request.h"
#include "cuda/stage_timer.h"
#include "cuda/workspace.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "kernels/attention.cuh"

namespace evo2::cuda {

class CudaModel final : public Model {
 public:
  ~CudaModel() override;
  static absl::StatusOr<std::unique_ptr<CudaModel>> Create(ModelConfig config,
                                                           DeviceWeights weights);

  const ModelConfig& config() const override { return config_; }
  std::string backend_name() const override;
  std::optional<size_t> device_memory_bytes() const override { return device_bytes(); }
  // One record's workspace plan (cuda/workspace.h PlanWorkspace, batch 1); logits leave the
  // device in head chunks, so they cost no more device memory than log-probs.
  // cuda_model_capacity.cc.
  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override;
  // cudaMemGetInfo's free bytes plus the workspace held now (Ensure frees it before growing).
  std::optional<int64_t> FreeWorkingMemoryBytes() const override;
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;
  absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) override;

  // Grows the workspace for (batch, seq); the benchmark calls it before timing. With
  // EVO2_CUDA_GEMM_TUNING=1 it also tunes the GEMMs of that many rows (once per row bucket,
  // gemm.h). Off by default: on the H200 the tuned forward measured within run-to-run noise of
  // cublasGemmEx's own choices (bench/RESULTS.md) while tuning costs 0.3–1.7 s per new bucket.
  absl::Status Reserve(int64_t batch, int64_t seq);
  absl::Status Run(const RunRequest& request);
  Workspace& workspace() { return workspace_; }
  // Device bytes the engine holds: weights, workspace, cuBLASLt and cuDNN scratch.
  size_t device_bytes() const;
  // Which attention implementation runs, and why (benchmark and log lines).
  const std::string& attention_note() const { return attention_note_; }
  const DeviceWeights& weights() const { return weights_; }
  GemmRunner& gemm() { return *gemm_; }
  // Cached-state decoder (cuda/cuda_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;
  cudaStream_t stream() const { return stream_; }

 private:
  CudaModel(ModelConfig config, DeviceWeights weights) : config_(std::move(config)),
                                                         weights_(std::move(weights)) {}
  template <typename T>
  absl::Status RunTyped(const RunRequest& request);
  // Times the forward's GEMM shapes for `rows` rows on the workspace (overwriting it).
  absl::Status TuneGemms(int64_t rows);

  ModelConfig config_;
  DeviceWeights weights_;
  Workspace workspace_;
  cudaStream_t stream_ = nullptr;
  // End of block i is recorded in block_done_[i % 2] when a cancellation flag is given.
  cudaEvent_t block_done_[2] = {nullptr, nullptr};
  std::unique_ptr<GemmRunner> gemm_;
  std::unique_ptr<Fp8Gemm> fp8_gemm_;  // when the weights have FP8 copies
  bool tune_gemms_ = false;
  // bf16 attention: cuDNN's fused flash attention (2.1–2.5× the own kernel's rate on an H200)
  // where libcudnn.so.9 loads, supports the shape and a plan for it pays (cudnn_plan_policy.h),
  // else the own kernel (kernels/attention.cuh). EVO2_CUDA_ATTENTION: auto (default) = that
  // rule; cudnn = cuDNN for every supported shape; own|v2 = an own kernel version (A/B).
  template <typename T>
  absl::Status Attention(const T* q, const T* k, const T* v, T* out, int64_t batch, int64_t seq);
  kernels::AttentionVariant attention_variant_ = kernels::AttentionVariant::kMmaPipelined;
#if EVO2_HAVE_CUDNN
  std::unique_ptr<CudnnAttention> cudnn_attention_;
  std::unique_ptr<CudnnPlanPolicy> cudnn_policy_;
#endif
  std::string attention_note_;
};

}  // namespace evo2::cuda
