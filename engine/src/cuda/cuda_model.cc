#include "cuda/cuda_model.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "cuda/gemm.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {
namespace {

// A ForwardBatch call runs its sequences together (padded with 1, docs/spec/model.md §3: each mixer
// is causal, so padding cannot change the real positions) as long as batch·max_len stays under
// this many rows; larger calls are split into several passes.
constexpr int64_t kMaxBatchRows = 262144;
constexpr int32_t kPadId = 1;

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
  if (cudnn_attention_ != nullptr && cudnn_policy_->ShouldUse(batch, seq)) {
    // Plan building takes milliseconds to seconds: here, not inside a forward. A shape cuDNN
    // has no engine for runs on the own kernel (Attention uses cuDNN only where a plan exists).
    const absl::Status prepared =
        cudnn_attention_->Prepare(batch, config_.num_heads, seq, config_.head_dim);
    if (prepared.code() == absl::StatusCode::kUnimplemented) {
      cudnn_policy_->MarkRefused(batch, seq);
    } else if (!prepared.ok()) {
      return prepared;
    }
  }
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
  ASSIGN_OR_RETURN(auto results, RunRecords(one, options));
  return std::move(results[0]);
}

absl::StatusOr<std::vector<ForwardResult>> CudaModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  std::vector<ForwardResult> out;
  size_t start = 0;
  while (start < sequences.size()) {
    // Greedy group: add records while batch·max_len stays under the row budget.
    size_t end = start;
    int64_t max_len = 0;
    while (end < sequences.size()) {
      const int64_t len = std::max<int64_t>(max_len, static_cast<int64_t>(sequences[end].size()));
      if (end > start && len * static_cast<int64_t>(end - start + 1) > kMaxBatchRows) break;
      max_len = len;
      ++end;
    }
    ASSIGN_OR_RETURN(auto part, RunRecords(sequences.subspan(start, end - start), options));
    for (auto& r : part) out.push_back(std::move(r));
    start = end;
  }
  return out;
}

absl::StatusOr<std::vector<ForwardResult>> CudaModel::RunRecords(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  const int64_t B = static_cast<int64_t>(sequences.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  int64_t S = 0;
  for (const auto& s : sequences) S = std::max<int64_t>(S, static_cast<int64_t>(s.size()));
  std::vector<ForwardResult> results(sequences.size());
  if (S == 0) return results;  // only empty records: nothing to compute

  // Which activations to bring back: hidden_after_blocks and the supported layer names.
  std::map<int, std::string> names_by_block;  // block (-1 = embedding) -> requested name
  std::vector<std::string> final_norm_names;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(config_, name));
    if (tap.point == LayerTap::Point::kBlockOutput) {
      names_by_block[tap.block] = name;
    } else if (tap.point == LayerTap::Point::kEmbedding) {
      names_by_block[-1] = name;
    } else if (tap.point == LayerTap::Point::kFinalNorm) {
      final_norm_names.push_back(name);
    } else {
      return absl::UnimplementedError(absl::StrCat(
          "layer '", name, "': the cuda backend captures block outputs, the embedding and the "
          "final norm only"));
    }
  }
  std::map<int, std::vector<float>> hidden_buffers;
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config_.num_layers)
      return absl::InvalidArgumentError(absl::StrCat("hidden_after_blocks: block ", b,
                                                     " out of range [0, ", config_.num_layers, ")"));
    hidden_buffers[b];
  }
  for (const auto& [b, name] : names_by_block) hidden_buffers[b];

  const int64_t R = B * S;
  std::vector<int32_t> tokens(R, kPadId), targets(R, -1);
  for (int64_t b = 0; b < B; ++b) {
    const auto& seq = sequences[b];
    for (size_t t = 0; t < seq.size(); ++t) {
      if (seq[t] < 0 || seq[t] >= V)
        return absl::InvalidArgumentError(absl::StrCat("record ", b, ": token ", seq[t],
                                                       " at position ", t, " is outside [0, ", V,
                                                       ")"));
      tokens[b * S + t] = seq[t];
      if (t + 1 < seq.size()) targets[b * S + t] = seq[t + 1];
    }
  }
  RunRequest req;
  req.batch = B;
  req.seq = S;
  req.tokens_host = tokens.data();
  req.cancelled = options.cancelled;
  std::vector<float> lp, logits, final_norm;
  if (options.log_probs) {
    lp.resize(R);
    req.targets_host = targets.data();
    req.log_probs_host = lp.data();
  }
  if (options.logits) {
    logits.resize(static_cast<size_t>(R) * V);
    req.logits_host = logits.data();
  }
  if (!final_norm_names.empty()) {
    final_norm.resize(static_cast<size_t>(R) * H);
    req.final_norm_host = final_norm.data();
  }
  req.skip_head = !options.log_probs && !options.logits && final_norm_names.empty();
  for (auto& [b, buf] : hidden_buffers) {
    buf.resize(static_cast<size_t>(R) * H);
    req.hidden_host[b] = buf.data();
  }
  RETURN_IF_ERROR(Run(req));

  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(sequences[b].size());
    ForwardResult& res = results[b];
    const size_t row0 = static_cast<size_t>(b * S);
    if (options.log_probs && len > 1) res.log_probs.assign(lp.begin() + row0, lp.begin() + row0 + len - 1);
    if (options.logits)
      res.logits.assign(logits.begin() + row0 * V, logits.begin() + (row0 + len) * V);
    auto rows_of = [&](const std::vector<float>& all) {
      return std::vector<float>(all.begin() + row0 * H, all.begin() + (row0 + len) * H);
    };
    for (int blk : options.hidden_after_blocks) res.hidden[blk] = rows_of(hidden_buffers[blk]);
    for (const auto& [blk, name] : names_by_block) res.layers[name] = rows_of(hidden_buffers[blk]);
    for (const std::string& name : final_norm_names) res.layers[name] = rows_of(final_norm);
  }
  return results;
}

}  // namespace evo2::cuda
