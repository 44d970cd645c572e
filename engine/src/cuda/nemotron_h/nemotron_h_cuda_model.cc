#include "cuda/nemotron_h/nemotron_h_cuda_model.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cuda/record_batch.h"
#include "evo2/status_macros.h"
#include "hf/hf_checkpoint.h"
#include "hf/nemotron_h_model.h"
#include "hf/nemotron_h_weights.h"
#include "kernels/cuda_status.cuh"

#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_plan_prepare.h"
#endif

namespace evo2::cuda {
namespace {

// A ForwardBatch call runs its records together while batch·max_len stays under this many rows.
constexpr int64_t kMaxBatchRows = 262144;
constexpr int32_t kPadId = 1;  // after a record's end; every mixer is causal

}  // namespace

CudaNemotronHModel::~CudaNemotronHModel() {
  // Both hold handles bound to the stream: released before it.
#if EVO2_HAVE_CUDNN
  cudnn_attention_.reset();
#endif
  gemm_.reset();
  for (cudaEvent_t e : block_done_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<CudaNemotronHModel>> CudaNemotronHModel::Create(
    ModelConfig common, hf::NemotronHConfig config, DeviceNemotronHWeights weights,
    cudaStream_t stream) {
  std::unique_ptr<CudaNemotronHModel> m(
      new CudaNemotronHModel(std::move(common), std::move(config), std::move(weights), stream));
  for (cudaEvent_t& e : m->block_done_) {
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ASSIGN_OR_RETURN(m->gemm_, GemmRunner::Create(m->stream_));
  if (const char* scan = std::getenv("EVO2_SSD_SCAN"); scan != nullptr) {
    const std::string_view v = scan;
    if (v != "v1" && v != "v2")
      return absl::InvalidArgumentError(
          absl::StrCat("EVO2_SSD_SCAN=", std::string(v), ": expected v1 or v2"));
    m->ssd_variant_ = v == "v2" ? kernels::SsdScanVariant::kV2 : kernels::SsdScanVariant::kV1;
  }
  const char* env = std::getenv("EVO2_CUDA_ATTENTION");
  const std::string_view choice = env != nullptr ? env : "auto";
  if (choice != "auto" && choice != "cudnn" && choice != "own")
    return absl::InvalidArgumentError(
        absl::StrCat("EVO2_CUDA_ATTENTION=", std::string(choice), ": expected auto, cudnn or own"));
  const int attention_layers = static_cast<int>(std::count(
      m->config_.layers.begin(), m->config_.layers.end(), hf::NemotronHLayerKind::kAttention));
  if (m->weights_.act_dtype != DType::kBFloat16) {
    m->attention_note_ = "own fp32 kernel";
  } else if (choice != "own" && attention_layers > 0) {
#if EVO2_HAVE_CUDNN
    auto cudnn = CudnnAttention::Create(m->stream_);
    if (cudnn.ok()) {
      m->cudnn_attention_ = std::move(*cudnn);
      // The policy's FLOP count uses the attention width n_q·d_k (2·B·S²·n_q·d_k per layer).
      m->cudnn_policy_ = std::make_unique<CudnnPlanPolicy>(
          choice == "cudnn" ? CudnnPlanPolicy::Mode::kAlways : CudnnPlanPolicy::Mode::kAuto,
          attention_layers,
          m->config_.num_attention_heads * AttentionKernelHeadDim(m->config_.attention_head_dim));
      m->attention_note_ =
          absl::StrCat("cuDNN ", m->cudnn_attention_->cudnn_version(), " fused attention (",
                       choice == "cudnn" ? "every supported shape" : "where a plan pays",
                       "), else own kernel v3");
    } else {
      m->attention_note_ = absl::StrCat(
          "own kernel v3 (cuDNN unavailable: ", std::string(cudnn.status().message()), ")");
    }
#else
    m->attention_note_ = "own kernel v3 (built without cuDNN headers)";
#endif
  }
  return m;
}

std::string CudaNemotronHModel::backend_name() const {
  return weights_.act_dtype == DType::kFloat32 ? "cuda-fp32" : "cuda-bf16";
}

size_t CudaNemotronHModel::device_bytes() const {
  size_t bytes = weights_.bytes + workspace_.bytes() + gemm_->workspace_bytes();
#if EVO2_HAVE_CUDNN
  if (cudnn_attention_ != nullptr) bytes += cudnn_attention_->workspace_bytes();
#endif
  return bytes;
}

absl::Status CudaNemotronHModel::Reserve(int64_t batch, int64_t seq) {
  RETURN_IF_ERROR(workspace_.Ensure(config_, weights_.act_dtype, batch, seq));
#if EVO2_HAVE_CUDNN
  RETURN_IF_ERROR(PrepareCudnnPlanIfPicked(cudnn_attention_.get(), cudnn_policy_.get(), batch,
                                           config_.num_attention_heads, seq,
                                           AttentionKernelHeadDim(config_.attention_head_dim)));
#endif
  return absl::OkStatus();
}

absl::Status CudaNemotronHModel::Run(const RunRequest& request) {
  if (request.batch <= 0 || request.seq <= 0)
    return absl::InvalidArgumentError("cuda forward: empty batch");
  RETURN_IF_ERROR(Reserve(request.batch, request.seq));
  return weights_.act_dtype == DType::kFloat32 ? RunTyped<float>(request)
                                               : RunTyped<__nv_bfloat16>(request);
}

absl::StatusOr<ForwardResult> CudaNemotronHModel::Forward(std::span<const int32_t> tokens,
                                                          const ForwardOptions& options) {
  RETURN_IF_ERROR(CheckForwardTokens(tokens, common_.vocab_size));
  std::vector<std::vector<int32_t>> one{std::vector<int32_t>(tokens.begin(), tokens.end())};
  ASSIGN_OR_RETURN(auto results, ForwardBatch(one, options));
  return std::move(results[0]);
}

absl::StatusOr<std::vector<ForwardResult>> CudaNemotronHModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  return RunRecords(common_, sequences, options, kPadId, kMaxBatchRows,
                        [this](const RunRequest& request) { return Run(request); });
}

absl::StatusOr<std::unique_ptr<Model>> LoadNemotronHCudaModel(const LoadOptions& options) {
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return absl::UnimplementedError(absl::StrCat(
        "NemotronH (Mamba-2 hybrid) models run on one GPU; tensor/context parallel sizes and "
        "--devices must be 1 (got TP=",
        options.tensor_parallel_size, ", CP=", options.context_parallel_size,
        ", devices=", options.devices, ")"));
  if (options.fp8 != Fp8Mode::kOff)
    return absl::UnimplementedError(
        "NemotronH (Mamba-2 hybrid) models have no FP8 path on the cuda backend (bf16 or fp32)");
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    return absl::FailedPreconditionError("device 'cuda' requested but no CUDA GPU is present");
  const DType act = options.precision == Precision::kFp32 ? DType::kFloat32 : DType::kBFloat16;
  ASSIGN_OR_RETURN(hf::HfCheckpoint ckpt, hf::LoadHfCheckpoint(options.checkpoint));
  ASSIGN_OR_RETURN(hf::NemotronHConfig config, hf::NemotronHConfigFromCheckpoint(ckpt));
  ModelConfig common = hf::NemotronHModelConfig(ckpt, config);
  cudaStream_t stream = nullptr;
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  absl::StatusOr<DeviceNemotronHWeights> weights = [&]() -> absl::StatusOr<DeviceNemotronHWeights> {
    // The fp32 host copy lives only while it is uploaded.
    ASSIGN_OR_RETURN(hf::NemotronHWeights host, hf::LoadNemotronHWeights(ckpt, config));
    return DeviceNemotronHWeights::Upload(config, host, act, stream);
  }();
  if (!weights.ok()) {
    cudaStreamDestroy(stream);
    return absl::Status(weights.status().code(),
                        absl::StrCat(ckpt.dir.string(), ": ", weights.status().message()));
  }
  ASSIGN_OR_RETURN(auto model, CudaNemotronHModel::Create(std::move(common), std::move(config),
                                                          std::move(*weights), stream));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evo2::cuda
