// The Llama forward pass on the GPU (golden/l_eden_a/README.md "Forward pass, exactly as HF
// computes it"), on one stream. Shapes: R = batch·seq rows, H hidden, n_q / n_kv heads of d,
// F MLP width, V vocabulary.
#include <cuda_bf16.h>

#include <algorithm>
#include <type_traits>

#include "cuda/activations_to_host.h"
#include "cuda/chunked_head.h"
#include "cuda/llama/llama_cuda_model.h"
#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/embedding.cuh"
#include "kernels/rms_norm_eps_inside.cuh"
#include "kernels/rotary_gqa.cuh"
#include "kernels/swiglu.cuh"

namespace evo2::cuda {

template <typename T>
absl::Status LlamaCudaModel::RunTyped(const RunRequest& r) {
  const hf::LlamaConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t B = r.batch, S = r.seq, R = B * S;
  const int64_t H = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t d = c.head_dim, nq = c.num_heads, nkv = c.num_kv_heads;
  const int64_t qd = nq * d, ld = (nq + 2 * nkv) * d;
  const float eps = static_cast<float>(c.rms_norm_eps);
  cudaStream_t st = stream_;
  LlamaWorkspace& ws = workspace_;
  float* x = ws.x.as<float>();  // [R, H] fp32 residual stream
  T* z = ws.z.as<T>();          // [R, H] norm output | [R, n_q·d] attention output
  T* qkv = ws.qkv.as<T>();      // [R, (n_q + 2 n_kv)·d]
  T* q = ws.q.as<T>();          // [B, n_q, S, d]
  T* k = ws.k.as<T>();          // [B, n_kv or n_q, S, d]
  T* v = ws.v.as<T>();          // [B, n_kv or n_q, S, d]
  T* mlp = ws.mlp.as<T>();      // [mlp rows, 2F]
  int32_t* tokens = ws.tokens.as<int32_t>();
  int32_t* targets = ws.targets.as<int32_t>();
  float* lp = ws.log_probs.as<float>();
  const bool cudnn = UseCudnn(B, S);

  if (!r.tokens_on_device) {
    CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(tokens, r.tokens_host, R * sizeof(int32_t), cudaMemcpyHostToDevice, st));
    if (r.targets_host != nullptr)
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(targets, r.targets_host, R * sizeof(int32_t),
                                           cudaMemcpyHostToDevice, st));
  }
  auto capture = [&](int key) -> absl::Status {
    auto it = r.hidden_host.find(key);
    if (it == r.hidden_host.end()) return absl::OkStatus();
    return CopyActivationsToHost<float>(x, R * H, it->second, st);
  };
  auto mark = [&](const char* stage) {
    if (r.timer != nullptr) r.timer->Mark(st, stage);
  };
  auto gemm = [&](DType result, const GemmArgs& g) { return gemm_->Run(act, result, g); };

  mark("start");
  // x_s = E[t_s]  (no scaling)
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(tokens, static_cast<const T*>(weights_.embedding), z,
                                              R, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, R * H, st));
  mark("embedding");
  RETURN_IF_ERROR(capture(-1));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const int layer = static_cast<int>(l);
    if (r.cancelled != nullptr) {
      if (layer >= 2) CUDA_RETURN_IF_ERROR(cudaEventSynchronize(layer_done_[layer % 2]));
      RETURN_IF_ERROR(CancelledAt(r.cancelled, layer, static_cast<int>(c.num_layers)));
    }
    const LlamaDeviceLayer& w = weights_.layers[static_cast<size_t>(l)];
    // 1. u = RMSNorm(x; input_layernorm); [q k v] = u·W_qkvᵀ
    RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(w.input_norm), z, R,
                                                       H, eps, st));
    mark("rms_norm");
    RETURN_IF_ERROR(gemm(
        act, {.x = z, .ldx = H, .w = w.wqkv, .y = qkv, .ldy = ld, .rows = R, .in = H, .out = ld}));
    mark("gemm_qkv");
    // 2. RoPE on q and k, split into heads. 3. causal GQA attention → z [R, n_q·d].
    RETURN_IF_ERROR(kernels::LaunchRotaryGqaSplit<T>(qkv, weights_.inv_freq, q, k, v, B, S,
                                                     {.heads = nq, .kv_heads = nkv, .head_dim = d},
                                                     /*repeat_kv=*/cudnn, st));
    mark("rotary");
    if (r.block_observer) {  // the decoder's prefill copies K, V into its cache
      RETURN_IF_ERROR(r.block_observer({.block = layer,
                                        .kind = BlockKind::kAttn,
                                        .k = k,
                                        .v = v,
                                        .kv_heads = nkv,
                                        .kv_repeat = cudnn ? nq / nkv : 1}));
    }
    RETURN_IF_ERROR(Attention<T>(q, k, v, z, B, S, cudnn));
    mark("attention");
    // x ← x + o·W_oᵀ (the residual is the GEMM's C operand)
    RETURN_IF_ERROR(gemm(DType::kFloat32, {.x = z,
                                           .ldx = qd,
                                           .w = w.wo,
                                           .y = x,
                                           .ldy = H,
                                           .rows = R,
                                           .in = qd,
                                           .out = H,
                                           .beta = 1.f}));
    mark("gemm_o");
    // 4. u = RMSNorm(x; post_attention_layernorm); x ← x + W_down·(SiLU(W_gate·u) ⊙ W_up·u),
    // in row chunks so the [rows, 2F] buffer stays bounded.
    RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(w.post_norm), z, R,
                                                       H, eps, st));
    mark("rms_norm");
    for (int64_t row0 = 0; row0 < R; row0 += kMlpChunkRows) {
      const int64_t rows = std::min(kMlpChunkRows, R - row0);
      RETURN_IF_ERROR(gemm(act, {.x = z + row0 * H,
                                 .ldx = H,
                                 .w = w.w_gate_up,
                                 .y = mlp,
                                 .ldy = 2 * F,
                                 .rows = rows,
                                 .in = H,
                                 .out = 2 * F}));
      mark("gemm_gate_up");
      RETURN_IF_ERROR(kernels::LaunchSwiGlu<T>(mlp, rows, F, st));
      mark("swiglu");
      RETURN_IF_ERROR(gemm(DType::kFloat32, {.x = mlp,
                                             .ldx = 2 * F,
                                             .w = w.w_down,
                                             .y = x + row0 * H,
                                             .ldy = H,
                                             .rows = rows,
                                             .in = F,
                                             .out = H,
                                             .beta = 1.f}));
      mark("gemm_down");
    }
    RETURN_IF_ERROR(capture(layer));
    if (r.cancelled != nullptr) CUDA_RETURN_IF_ERROR(cudaEventRecord(layer_done_[layer % 2], st));
  }
  if (r.skip_head) return absl::OkStatus();

  // logits = RMSNorm(x; model.norm)·W_lmᵀ, chunk by chunk; log-probs gathered per chunk so the
  // [R, V] logits never exist at once.
  RETURN_IF_ERROR(kernels::LaunchRmsNormEpsInside<T>(x, static_cast<const T*>(weights_.final_norm),
                                                     z, R, H, eps, st));
  mark("rms_norm");
  if (r.final_norm_host != nullptr)
    RETURN_IF_ERROR(CopyActivationsToHost<T>(z, R * H, r.final_norm_host, st));
  return RunChunkedHead({.z = z,
                         .weight = weights_.head,
                         .operand = act,
                         .batch = B,
                         .seq = S,
                         .hidden = H,
                         .vocab = V,
                         .logits = ws.logits.as<float>(),
                         .targets = targets,
                         .log_probs = lp},
                        r, *gemm_, st);
}

template <typename T>
absl::Status LlamaCudaModel::Attention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                       int64_t seq, bool cudnn) {
  const int64_t nq = config_.num_heads, d = config_.head_dim;
#if EVO2_HAVE_CUDNN
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    // K and V were written with n_q heads (repeated) for this path.
    if (cudnn) {
      const absl::Status s = cudnn_attention_->Run(q, k, v, out, batch, nq, seq, d);
      if (s.code() != absl::StatusCode::kUnimplemented) return s;
      cudnn_policy_->MarkRefused(batch, seq);
      // The own kernel computes the same function on the repeated heads.
      return kernels::LaunchCausalGqaAttention<T>(q, k, v, out, batch, nq, nq, seq, d, stream_,
                                                  attention_variant_);
    }
  }
#endif
  if (cudnn) return absl::InternalError("cuda llama: cuDNN attention chosen but unavailable");
  return kernels::LaunchCausalGqaAttention<T>(q, k, v, out, batch, nq, config_.num_kv_heads, seq, d,
                                              stream_, attention_variant_);
}

template absl::Status LlamaCudaModel::RunTyped<float>(const RunRequest&);
template absl::Status LlamaCudaModel::RunTyped<__nv_bfloat16>(const RunRequest&);

}  // namespace evo2::cuda
