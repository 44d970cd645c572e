#include "cuda/llama/llama_cuda_decoder.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/embedding.cuh"
#include "kernels/rms_norm_eps_inside.cuh"
#include "kernels/rotary_gqa.cuh"
#include "kernels/swiglu.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {

absl::StatusOr<std::unique_ptr<Decoder>> LlamaCudaModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new LlamaCudaDecoder(*this, options));
}

LlamaCudaDecoder::LlamaCudaDecoder(LlamaCudaModel& model, DecoderOptions options)
    : CachedStateDecoder(model.gemm(), model.weights().act_dtype, model.stream(), options,
                         {.vocab = model.llama_config().vocab_size,
                          .attn_heads = model.llama_config().num_heads,
                          .attn_head_dim = model.llama_config().head_dim}),
      model_(model),
      config_(model.llama_config()),
      weights_(model.weights()) {
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const size_t row_bytes = static_cast<size_t>(config_.head_dim) * act;
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    k_.push_back(state_.AddKv(config_.num_kv_heads, row_bytes));
    v_.push_back(state_.AddKv(config_.num_kv_heads, row_bytes));
  }
}

size_t LlamaCudaDecoder::device_bytes() const {
  return shared_device_bytes() + x_.bytes() + z_.bytes() + qkv_.bytes() + q_.bytes() +
         mlp_.bytes() + logits_.bytes();
}

absl::Status LlamaCudaDecoder::RunPrompt(RunRequest& req, int64_t slot) {
  const int64_t S = req.seq;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const size_t row_bytes = static_cast<size_t>(config_.head_dim) * act;
  req.block_observer = [&](const BlockIntermediates& bi) {
    const auto l = static_cast<size_t>(bi.block);
    return CopyPrefillKv(bi, S, row_bytes, state_, k_[l], v_[l], slot, stream_);
  };
  return model_.Run(req);
}

absl::Status LlamaCudaDecoder::AllocateStepBuffers(int64_t B) {
  const hf::LlamaConfig& c = config_;
  const int64_t H = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t qd = c.num_heads * c.head_dim, ld = (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const auto b = static_cast<size_t>(B);
  ASSIGN_OR_RETURN(x_, kernels::DeviceBuffer::Allocate(b * H * sizeof(float)));
  ASSIGN_OR_RETURN(z_, kernels::DeviceBuffer::Allocate(b * std::max(H, qd) * act));
  ASSIGN_OR_RETURN(qkv_, kernels::DeviceBuffer::Allocate(b * ld * act));
  ASSIGN_OR_RETURN(q_, kernels::DeviceBuffer::Allocate(b * qd * act));
  ASSIGN_OR_RETURN(mlp_, kernels::DeviceBuffer::Allocate(b * 2 * F * act));
  ASSIGN_OR_RETURN(logits_, kernels::DeviceBuffer::Allocate(b * V * sizeof(float)));
  return absl::OkStatus();
}

absl::Status LlamaCudaDecoder::EnqueueStep(int64_t B) {
  return weights_.act_dtype == DType::kFloat32 ? EnqueueStepTyped<float>(B)
                                               : EnqueueStepTyped<__nv_bfloat16>(B);
}

template <typename T>
absl::Status LlamaCudaDecoder::EnqueueStepTyped(int64_t B) {
  const hf::LlamaConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t H = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t d = c.head_dim, nq = c.num_heads, nkv = c.num_kv_heads;
  const int64_t qd = nq * d, ld = (nq + 2 * nkv) * d, cap = state_.kv_cap();
  const float eps = static_cast<float>(c.rms_norm_eps);
  cudaStream_t st = model_.stream();
  float* x = x_.as<float>();
  T* z = z_.as<T>();
  T* qkv = qkv_.as<T>();
  T* q = q_.as<T>();
  T* mlp = mlp_.as<T>();
  const int32_t* positions = batch_.positions();
  auto linear = [&](DType result, const GemmArgs& g) { return linear_.Run<T>(result, g); };

  // The forward's operations (llama_cuda_forward.cc) on B rows, each at its own position.
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(
      batch_.tokens(), static_cast<const T*>(weights_.embedding), z, B, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, B * H, st));
  for (size_t l = 0; l < weights_.layers.size(); ++l) {
    const LlamaDeviceLayer& w = weights_.layers[l];
    T* k_cache = state_.as<T>(k_[l]);  // [B, n_kv, cap, d]
    T* v_cache = state_.as<T>(v_[l]);
    // 1. u = RMSNorm(x); [q k v] = u·W_qkvᵀ  [B, ld]
    RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(w.input_norm), z, B,
                                                       H, eps, st));
    RETURN_IF_ERROR(linear(
        act, {.x = z, .ldx = H, .w = w.wqkv, .y = qkv, .ldy = ld, .rows = B, .in = H, .out = ld}));
    // 2. RoPE at t_b, K and V appended at row t_b. 3. attention over rows 0..t_b → z [B, n_q·d].
    RETURN_IF_ERROR(kernels::LaunchRotaryGqaKvAppend<T>(
        qkv, weights_.inv_freq, positions, q, k_cache, v_cache, B,
        {.heads = nq, .kv_heads = nkv, .head_dim = d}, cap, st));
    RETURN_IF_ERROR(kernels::LaunchDecodeAttentionGqa<T>(q, k_cache, v_cache, positions, z,
                                                         attn_ws_.get(), attn_ws_.bytes(), B, nq,
                                                         nkv, d, cap, st));
    // x ← x + o·W_oᵀ
    RETURN_IF_ERROR(linear(DType::kFloat32, {.x = z,
                                             .ldx = qd,
                                             .w = w.wo,
                                             .y = x,
                                             .ldy = H,
                                             .rows = B,
                                             .in = qd,
                                             .out = H,
                                             .beta = 1.f}));
    // 4. u = RMSNorm(x); x ← x + W_down·(SiLU(W_gate·u) ⊙ W_up·u)
    RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(w.post_norm), z, B,
                                                       H, eps, st));
    RETURN_IF_ERROR(linear(act, {.x = z,
                                 .ldx = H,
                                 .w = w.w_gate_up,
                                 .y = mlp,
                                 .ldy = 2 * F,
                                 .rows = B,
                                 .in = H,
                                 .out = 2 * F}));
    RETURN_IF_ERROR(kernels::LaunchSwiGlu<T>(mlp, B, F, st));
    RETURN_IF_ERROR(linear(DType::kFloat32, {.x = mlp,
                                             .ldx = 2 * F,
                                             .w = w.w_down,
                                             .y = x,
                                             .ldy = H,
                                             .rows = B,
                                             .in = F,
                                             .out = H,
                                             .beta = 1.f}));
  }
  // logits [B, V] = RMSNorm(x; model.norm)·W_lmᵀ
  RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(weights_.final_norm),
                                                     z, B, H, eps, st));
  RETURN_IF_ERROR(linear(DType::kFloat32, {.x = z,
                                           .ldx = H,
                                           .w = weights_.head,
                                           .y = logits_.get(),
                                           .ldy = V,
                                           .rows = B,
                                           .in = H,
                                           .out = V}));
  return batch_.CopyLogits(logits_.as<float>(), st);
}

}  // namespace evo2::cuda
