#include "cuda/cuda_model.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "cuda/gemm.h"
#include "cuda/record_batch.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

#if EVO2_HAVE_CUDNN
#include "cuda/cudnn_plan_prepare.h"
#endif

namespace evo2::cuda {
namespace {

// A ForwardBatch call runs its records together while batch·max_len stays under this many rows.
constexpr int64_t kMaxBatchRows = 262144;
constexpr int32_t kPadId = 1;  // after a record's end; every mixer is causal (docs/spec/model.md §3)

}  // namespace

CudaModel::~CudaModel() {
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

absl::StatusOr<std::unique_ptr<CudaModel>> CudaModel::Create(ModelConfig config,
                                                             DeviceWeights weights) {
  std::unique_ptr<CudaModel> m(new CudaModel(std::move(config), std::move(weights)));
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m->stream_, cudaStreamNonBlocking));
  for (cudaEvent_t& e : m->block_done_) {
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ASSIGN_OR_RETURN(auto gemm, GemmRunner::Create(m->stream_));
  m->gemm_ = std::move(gemm);
  if (m->weights_.fp8 != Fp8Mode::kOff) {
    ASSIGN_OR_RETURN(auto fp8, Fp8Gemm::Create(m->stream_));
    m->fp8_gemm_ = std::move(fp8);
  }
  if (const char* v = std::getenv("EVO2_CUDA_GEMM_TUNING"); v != nullptr)
    m->tune_gemms_ = std::string_view(v) == "1";
  const char* env = std::getenv("EVO2_CUDA_ATTENTION");
  const std::string_view choice = env != nullptr ? env : "auto";
  if (choice == "v2") m->attention_variant_ = kernels::AttentionVariant::kMmaLdmatrix;
  if (choice != "auto" && choice != "cudnn" && choice != "own" && choice != "v2")
    return absl::InvalidArgumentError(absl::StrCat("EVO2_CUDA_ATTENTION=", std::string(choice),
                                                   ": expected auto, cudnn, own or v2"));
  const std::string own_name = choice == "v2" ? "own kernel v2" : "own kernel v3";
  m->attention_note_ = own_name;
  if (m->weights_.act_dtype != DType::kBFloat16) {
    m->attention_note_ = "own fp32 kernel";
  } else if (choice == "auto" || choice == "cudnn") {
#if EVO2_HAVE_CUDNN
    auto cudnn = CudnnAttention::Create(m->stream_);
    if (cudnn.ok()) {
      m->cudnn_attention_ = std::move(*cudnn);
      const int attention_layers = static_cast<int>(std::count(
          m->config_.block_kinds.begin(), m->config_.block_kinds.end(), BlockKind::kAttn));
      m->cudnn_policy_ = std::make_unique<CudnnPlanPolicy>(
          choice == "cudnn" ? CudnnPlanPolicy::Mode::kAlways : CudnnPlanPolicy::Mode::kAuto,
          attention_layers, m->config_.hidden_size);
      m->attention_note_ = absl::StrCat(
          "cuDNN ", m->cudnn_attention_->cudnn_version(), " fused attention (",
          choice == "cudnn" ? "every supported shape" : "where a plan pays", "), else own kernel v3");
    } else {
      m->attention_note_ = absl::StrCat(own_name, " (cuDNN unavailable: ",
                                        std::string(cudnn.status().message()), ")");
    }
#else
    m->attention_note_ = absl::StrCat(own_name, " (built without cuDNN headers)");
#endif
  }
  return m;
}

std::string CudaModel::backend_name() const {
  std::string name = weights_.act_dtype == DType::kFloat32 ? "cuda-fp32" : "cuda-bf16";
  if (weights_.fp8 != Fp8Mode::kOff) absl::StrAppend(&name, "+fp8-", Fp8ModeName(weights_.fp8));
  return name;
}

size_t CudaModel::device_bytes() const {
  size_t bytes = weights_.bytes + workspace_.bytes() + gemm_->workspace_bytes();
#if EVO2_HAVE_CUDNN
  if (cudnn_attention_ != nullptr) bytes += cudnn_attention_->workspace_bytes();
#endif
  return bytes;
}

absl::Status CudaModel::Reserve(int64_t batch, int64_t seq) {
  RETURN_IF_ERROR(workspace_.Ensure(config_, weights_.act_dtype, batch, seq));
#if EVO2_HAVE_CUDNN
  RETURN_IF_ERROR(PrepareCudnnPlanIfPicked(cudnn_attention_.get(), cudnn_policy_.get(), batch,
                                           config_.num_heads, seq, config_.head_dim));
#endif
  if (tune_gemms_) return TuneGemms(batch * seq);
  return absl::OkStatus();
}

absl::Status CudaModel::Run(const RunRequest& request) {
  if (request.batch <= 0 || request.seq <= 0)
    return absl::InvalidArgumentError("cuda forward: empty batch");
  RETURN_IF_ERROR(Reserve(request.batch, request.seq));
  return weights_.act_dtype == DType::kFloat32 ? RunTyped<float>(request)
                                               : RunTyped<__nv_bfloat16>(request);
}

absl::StatusOr<ForwardResult> CudaModel::Forward(std::span<const int32_t> tokens,
                                                 const ForwardOptions& options) {
  std::vector<std::vector<int32_t>> one{std::vector<int32_t>(tokens.begin(), tokens.end())};
  ASSIGN_OR_RETURN(auto results, ForwardBatch(one, options));
  return std::move(results[0]);
}

absl::StatusOr<std::vector<ForwardResult>> CudaModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  return RunRecords(config_, sequences, options, kPadId, kMaxBatchRows,
                    [this](const RunRequest& request) { return Run(request); });
}

}  // namespace evo2::cuda
