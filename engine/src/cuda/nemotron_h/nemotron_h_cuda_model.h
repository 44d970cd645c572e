// The NemotronH (Mamba-2 hybrid) network on one GPU (golden/m_hybrid_a/README.md "Forward pass"):
// embedding, then per layer x ← x + Mixer_i(RMSNorm(x; norm_i)) with the mixer the pattern
// letter names (M Mamba-2 through the chunked SSD scan, * GQA attention without positions,
// - squared-ReLU MLP), then the final norm and lm_head fused with the log-softmax gather.
// bf16 weights and activations with an fp32 residual stream and an fp32 SSD state, or fp32
// throughout (the checking mode). Forward/ForwardBatch behave as the Hyena cuda model's
// (cuda/record_batch.h); Run() is the device pass the benchmark times directly.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_plan_policy.h"
#endif
#include "cuda/gemm.h"
#include "cuda/nemotron_h/nemotron_h_device_weights.h"
#include "cuda/nemotron_h/nemotron_h_workspace.h"
#include "cuda/run_request.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "hf/nemotron_h_config.h"
#include "kernels/ssd_scan.cuh"

namespace evo2::cuda {

class CudaNemotronHModel final : public Model {
 public:
  ~CudaNemotronHModel() override;
  // Takes the weights and a stream the weights were built on (the model owns it from here).
  static absl::StatusOr<std::unique_ptr<CudaNemotronHModel>> Create(ModelConfig common,
                                                                    hf::NemotronHConfig config,
                                                                    DeviceNemotronHWeights weights,
                                                                    cudaStream_t stream);

  const ModelConfig& config() const override { return common_; }
  const hf::NemotronHConfig& nemotron_config() const { return config_; }
  std::string backend_name() const override;
  std::optional<size_t> device_memory_bytes() const override { return device_bytes(); }
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;
  absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) override;
  // The cached-state decoder (cuda/nemotron_h/nemotron_h_cuda_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;

  // Grows the workspace for (batch, seq) (the benchmark calls it before timing).
  absl::Status Reserve(int64_t batch, int64_t seq);
  absl::Status Run(const RunRequest& request);
  NemotronHWorkspace& workspace() { return workspace_; }
  size_t device_bytes() const;
  cudaStream_t stream() const { return stream_; }
  GemmRunner& gemm() { return *gemm_; }
  const DeviceNemotronHWeights& weights() const { return weights_; }
  // Which attention implementation runs, and why (benchmark and log lines).
  const std::string& attention_note() const { return attention_note_; }
  // The SSD scan's kernel version (kernels/ssd_scan.cuh): EVO2_SSD_SCAN=v2 (default) or v1.
  kernels::SsdScanVariant ssd_variant() const { return ssd_variant_; }

 private:
  CudaNemotronHModel(ModelConfig common, hf::NemotronHConfig config, DeviceNemotronHWeights weights,
                     cudaStream_t stream)
      : common_(std::move(common)),
        config_(std::move(config)),
        weights_(std::move(weights)),
        stream_(stream) {}
  template <typename T>
  absl::Status RunTyped(const RunRequest& request);
  // The three mixers: read z ([R, H] normed input), add their output into the fp32 stream x.
  // r.timer (nullable) marks their stages for the benchmark's profile; r.block_observer sees
  // layer `index`'s intermediates (the decoder's prefill derives its state from them).
  template <typename T>
  absl::Status MambaMixer(const DeviceNemotronHLayer& layer, int index, const RunRequest& r);
  template <typename T>
  absl::Status AttentionMixer(const DeviceNemotronHLayer& layer, int index, const RunRequest& r);
  template <typename T>
  absl::Status MlpMixer(const DeviceNemotronHLayer& layer, int64_t rows, StageTimer* timer);
  // Causal grouped-query attention without positions: q [R, n_q·d], k, v [R, n_kv·d] row-major
  // (leading dimension ld) -> out [R, n_q·d]. The one place that decides how GQA runs: for now
  // K/V heads are repeated into head-major buffers for an MHA kernel: cuDNN's fused attention in
  // bf16 where it loads and a plan pays (cuda/cudnn_plan_policy.h, as the Hyena model), else the
  // own kernel (kernels/attention.cuh). EVO2_CUDA_ATTENTION=own|cudnn|auto as for the Hyena model.
  template <typename T>
  absl::Status GqaAttention(const T* q, const T* k, const T* v, int64_t ld, T* out, int64_t batch,
                            int64_t seq);

  ModelConfig common_;
  hf::NemotronHConfig config_;
  DeviceNemotronHWeights weights_;
  NemotronHWorkspace workspace_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t block_done_[2] = {nullptr, nullptr};  // cancellation pacing, as the Hyena model
  std::unique_ptr<GemmRunner> gemm_;
#if EVO2_HAVE_CUDNN
  std::unique_ptr<CudnnAttention> cudnn_attention_;
  std::unique_ptr<CudnnPlanPolicy> cudnn_policy_;
#endif
  std::string attention_note_ = "own kernel v3";
  kernels::SsdScanVariant ssd_variant_ = kernels::SsdScanVariant::kV2;
};

// The registry's loader for (kNemotronH, kCuda): reads the HF checkpoint (hf/), uploads it in
// bf16 (default) or fp32 (`--precision fp32`); FP8 and engine groups are refused.
absl::StatusOr<std::unique_ptr<Model>> LoadNemotronHCudaModel(const LoadOptions& options);

}  // namespace evo2::cuda
