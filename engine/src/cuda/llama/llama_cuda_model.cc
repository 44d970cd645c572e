#include "cuda/llama/llama_cuda_model.h"

#include <cuda_bf16.h>

#include <cstdlib>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cuda/record_batch.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_plan_prepare.h"
#endif

namespace evo2::cuda {
namespace {

// A ForwardBatch call runs its records together while batch·max_len stays within this many rows
// (the Hyena backend's budget); larger calls run as several passes.
constexpr int64_t kMaxBatchRows = 262144;
// Padding id: any valid token; causal attention keeps it out of the real positions.
constexpr int32_t kPadId = 0;

}  // namespace

LlamaCudaModel::LlamaCudaModel(hf::LlamaConfig config, LlamaDeviceWeights weights)
    : config_(std::move(config)),
      model_config_(hf::ToModelConfig(config_)),
      weights_(std::move(weights)) {}

LlamaCudaModel::~LlamaCudaModel() {
  // Both hold handles bound to the stream: released before it.
#if EVO2_HAVE_CUDNN
  cudnn_attention_.reset();
#endif
  gemm_.reset();
  for (cudaEvent_t e : layer_done_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<LlamaCudaModel>> LlamaCudaModel::Create(hf::LlamaConfig config,
                                                                       LlamaDeviceWeights weights) {
  std::unique_ptr<LlamaCudaModel> m(new LlamaCudaModel(std::move(config), std::move(weights)));
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m->stream_, cudaStreamNonBlocking));
  for (cudaEvent_t& e : m->layer_done_) {
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ASSIGN_OR_RETURN(m->gemm_, GemmRunner::Create(m->stream_));
  const char* env = std::getenv("EVO2_CUDA_ATTENTION");
  const std::string_view choice = env != nullptr ? env : "auto";
  if (choice != "auto" && choice != "cudnn" && choice != "own" && choice != "v2")
    return absl::InvalidArgumentError(absl::StrCat("EVO2_CUDA_ATTENTION=", std::string(choice),
                                                   ": expected auto, cudnn, own or v2"));
  if (choice == "v2") m->attention_variant_ = kernels::AttentionVariant::kMmaLdmatrix;
  const std::string own_name = choice == "v2" ? "own GQA kernel v2" : "own GQA kernel v3";
  m->attention_note_ = own_name;
  if (m->weights_.act_dtype != DType::kBFloat16) {
    m->attention_note_ = "own fp32 GQA kernel";
  } else if (choice == "auto" || choice == "cudnn") {
#if EVO2_HAVE_CUDNN
    auto cudnn = CudnnAttention::Create(m->stream_);
    if (cudnn.ok()) {
      m->cudnn_attention_ = std::move(*cudnn);
      m->cudnn_policy_ = std::make_unique<CudnnPlanPolicy>(
          choice == "cudnn" ? CudnnPlanPolicy::Mode::kAlways : CudnnPlanPolicy::Mode::kAuto,
          static_cast<int>(m->config_.num_layers), m->config_.num_heads * m->config_.head_dim);
      m->attention_note_ = absl::StrCat(
          "cuDNN ", m->cudnn_attention_->cudnn_version(), " fused attention on repeated KV heads (",
          choice == "cudnn" ? "every supported shape" : "where a plan pays", "), else ", own_name);
    } else {
      m->attention_note_ = absl::StrCat(
          own_name, " (cuDNN unavailable: ", std::string(cudnn.status().message()), ")");
    }
#else
    m->attention_note_ = absl::StrCat(own_name, " (built without cuDNN headers)");
#endif
  }
  return m;
}

std::string LlamaCudaModel::backend_name() const {
  return weights_.act_dtype == DType::kFloat32 ? "cuda-fp32" : "cuda-bf16";
}

size_t LlamaCudaModel::device_bytes() const {
  size_t bytes = weights_.bytes + workspace_.bytes() + gemm_->workspace_bytes();
#if EVO2_HAVE_CUDNN
  if (cudnn_attention_ != nullptr) bytes += cudnn_attention_->workspace_bytes();
#endif
  return bytes;
}

absl::Status LlamaCudaModel::Reserve(int64_t batch, int64_t seq) {
  RETURN_IF_ERROR(workspace_.Ensure(config_, weights_.act_dtype, batch, seq));
#if EVO2_HAVE_CUDNN
  // A shape cuDNN has no engine for (e.g. its head dim) runs on the own kernel.
  RETURN_IF_ERROR(PrepareCudnnPlanIfPicked(cudnn_attention_.get(), cudnn_policy_.get(), batch,
                                           config_.num_heads, seq, config_.head_dim));
#endif
  return absl::OkStatus();
}

bool LlamaCudaModel::UseCudnn(int64_t batch, int64_t seq) const {
#if EVO2_HAVE_CUDNN
  return weights_.act_dtype == DType::kBFloat16 && cudnn_attention_ != nullptr &&
         cudnn_attention_->FindPlan(batch, config_.num_heads, seq, config_.head_dim) != nullptr;
#else
  (void)batch;
  (void)seq;
  return false;
#endif
}

absl::Status LlamaCudaModel::Run(const RunRequest& request) {
  if (request.batch <= 0 || request.seq <= 0)
    return absl::InvalidArgumentError("cuda llama forward: empty batch");
  RETURN_IF_ERROR(Reserve(request.batch, request.seq));
  return weights_.act_dtype == DType::kFloat32 ? RunTyped<float>(request)
                                               : RunTyped<__nv_bfloat16>(request);
}

absl::StatusOr<ForwardResult> LlamaCudaModel::Forward(std::span<const int32_t> tokens,
                                                      const ForwardOptions& options) {
  RETURN_IF_ERROR(CheckForwardTokens(tokens, config_.vocab_size));
  std::vector<std::vector<int32_t>> one{std::vector<int32_t>(tokens.begin(), tokens.end())};
  ASSIGN_OR_RETURN(auto results, ForwardBatch(one, options));
  return std::move(results[0]);
}

absl::StatusOr<std::vector<ForwardResult>> LlamaCudaModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  return RunRecords(model_config_, sequences, options, kPadId, kMaxBatchRows,
                    [this](const RunRequest& request) { return Run(request); });
}

}  // namespace evo2::cuda
