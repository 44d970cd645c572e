// The NemotronH forward pass on the GPU (golden/m_hybrid_a/README.md "Forward pass"), one stream,
// numbered by the README's steps. Shapes: R = batch·seq rows, H hidden, d_inner = n_h·P,
// C = d_inner + 2GN conv channels, R_in = 2·d_inner + 2GN + n_h in_proj rows.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "cuda/activations_to_host.h"
#include "cuda/chunked_head.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "cuda/stage_timer.h"
#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/causal_conv_silu.cuh"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/embedding.cuh"
#include "kernels/group_rms_norm.cuh"
#include "kernels/head_major.cuh"
#include "kernels/squared_relu.cuh"
#include "kernels/ssd_scan.cuh"

namespace evo2::cuda {

using hf::NemotronHLayerKind;

template <typename T>
absl::Status CudaNemotronHModel::RunTyped(const RunRequest& r) {
  const hf::NemotronHConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t B = r.batch, S = r.seq, R = B * S;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const int num_layers = static_cast<int>(c.num_layers());
  cudaStream_t st = stream_;
  NemotronHWorkspace& ws = workspace_;
  float* x = ws.x.as<float>();  // [R, H] fp32 residual stream
  T* z = ws.z.as<T>();          // [R, H] normed layer input
  int32_t* tokens = ws.tokens.as<int32_t>();
  int32_t* targets = ws.targets.as<int32_t>();
  float* lp = ws.log_probs.as<float>();

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

  // Embedding: x_s = E[t_s] (no scaling, no positions).
  mark("start");
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(tokens, static_cast<const T*>(weights_.embedding), z,
                                              R, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, R * H, st));
  mark("embedding");
  RETURN_IF_ERROR(capture(-1));
  // Layer i: x ← x + Mixer_i(RMSNorm(x; norm_i)), ε inside the root.
  for (int i = 0; i < num_layers; ++i) {
    if (r.cancelled != nullptr) {
      if (i >= 2) CUDA_RETURN_IF_ERROR(cudaEventSynchronize(block_done_[i % 2]));
      RETURN_IF_ERROR(CancelledAt(r.cancelled, i, num_layers));
    }
    const DeviceNemotronHLayer& layer = weights_.layers[static_cast<size_t>(i)];
    RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(
        x, H, nullptr, 0, static_cast<const T*>(layer.norm), z, H, R, H, H, c.eps, st));
    mark("rms_norm");
    switch (layer.kind) {
      case NemotronHLayerKind::kMamba:
        RETURN_IF_ERROR(MambaMixer<T>(layer, i, r));
        break;
      case NemotronHLayerKind::kAttention:
        RETURN_IF_ERROR(AttentionMixer<T>(layer, i, r));
        break;
      case NemotronHLayerKind::kMlp:
        RETURN_IF_ERROR(MlpMixer<T>(layer, R, r.timer));
        break;
    }
    RETURN_IF_ERROR(capture(i));
    if (r.cancelled != nullptr) CUDA_RETURN_IF_ERROR(cudaEventRecord(block_done_[i % 2], st));
  }
  if (r.skip_head) return absl::OkStatus();

  // End: logits = W_lm · RMSNorm(x; norm_f), chunk by chunk, log-probs gathered per chunk so the
  // [R, V] logits never exist at once.
  RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(
      x, H, nullptr, 0, static_cast<const T*>(weights_.final_norm), z, H, R, H, H, c.eps, st));
  mark("rms_norm");
  if (r.final_norm_host != nullptr)
    RETURN_IF_ERROR(CopyActivationsToHost<T>(z, R * H, r.final_norm_host, st));
  return RunChunkedHead({.z = z,
                         .weight = weights_.lm_head,
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

// Mamba-2 mixer ('M'), README steps 1–8.
template <typename T>
absl::Status CudaNemotronHModel::MambaMixer(const DeviceNemotronHLayer& layer, int index,
                                            const RunRequest& r) {
  const int64_t batch = r.batch, seq = r.seq;
  StageTimer* timer = r.timer;
  const hf::NemotronHConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t R = batch * seq, H = c.hidden_size;
  const int64_t di = c.MambaInner(), GN = c.n_groups * c.ssm_state_size;
  const int64_t C = c.ConvChannels(), R_in = c.InProjRows();
  cudaStream_t st = stream_;
  NemotronHWorkspace& ws = workspace_;
  T* proj = ws.proj.as<T>();  // [R, R_in]  z ‖ xBC ‖ dt_raw
  T* xbc = ws.xbc.as<T>();  // [R, C]  conv + SiLU output x̂ ‖ B ‖ C; then [R, d_inner] gated norm
  float* y = ws.y.as<float>();  // [R, d_inner] fp32 scan output
  auto mark = [&](const char* stage) {
    if (timer != nullptr) timer->Mark(st, stage);
  };
  // 1. p = W_in·u.
  RETURN_IF_ERROR(gemm_->Run(act, act,
                             {.x = ws.z.get(),
                              .ldx = H,
                              .w = layer.in_proj,
                              .y = proj,
                              .ldy = R_in,
                              .rows = R,
                              .in = H,
                              .out = R_in}));
  mark("gemm_mamba_in");
  // 2–3. Causal depthwise conv over xBC, SiLU.
  RETURN_IF_ERROR(kernels::LaunchCausalConvSilu<T>(
      proj + di, R_in, layer.conv_weight, layer.conv_bias, xbc, batch, seq, C, c.conv_kernel, st));
  mark("conv_silu");
  if (r.block_observer) {
    RETURN_IF_ERROR(r.block_observer(
        {.block = index, .mamba_proj = proj, .mamba_proj_ld = R_in, .mamba_conv = xbc}));
  }
  // 4–6. Δ = softplus(dt_raw + dt_bias) (no clamp, README "dt clamp"), the selective scan.
  kernels::SsdScanArgs<T> scan;
  scan.x = xbc;
  scan.ld_x = C;
  scan.B = xbc + di;
  scan.C = xbc + di + GN;
  scan.ld_bc = C;
  scan.dt_raw = proj + 2 * di + 2 * GN;
  scan.ld_dt = R_in;
  scan.dt_bias = layer.dt_bias;
  scan.A = layer.A;
  scan.D = layer.D;
  scan.y = y;
  scan.ld_y = di;
  scan.batch = batch;
  scan.seq = seq;
  scan.heads = c.mamba_num_heads;
  scan.head_dim = c.mamba_head_dim;
  scan.groups = c.n_groups;
  scan.state_size = c.ssm_state_size;
  scan.workspace = ws.scan.get();
  scan.workspace_bytes = ws.scan.bytes();
  scan.variant = ssd_variant_;
  RETURN_IF_ERROR(kernels::LaunchSsdScan<T>(scan, st));
  mark("ssd_scan");
  // 7. Gated RMSNorm: v = y ⊙ SiLU(z) normalised per group of d_inner / G channels.
  RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(y, di, proj, R_in,
                                                 static_cast<const T*>(layer.gated_norm), xbc, di,
                                                 R, di, di / c.n_groups, c.eps, st));
  mark("gated_norm");
  // 8. x += W_out·v (the residual add fused as β = 1).
  RETURN_IF_ERROR(gemm_->Run(act, DType::kFloat32,
                             {.x = xbc,
                              .ldx = di,
                              .w = layer.out_proj,
                              .y = ws.x.get(),
                              .ldy = H,
                              .rows = R,
                              .in = di,
                              .out = H,
                              .beta = 1.f}));
  mark("gemm_mamba_out");
  return absl::OkStatus();
}

// Attention mixer ('*'): GQA, causal, no position encoding.
template <typename T>
absl::Status CudaNemotronHModel::AttentionMixer(const DeviceNemotronHLayer& layer, int index,
                                                const RunRequest& r) {
  const int64_t batch = r.batch, seq = r.seq;
  StageTimer* timer = r.timer;
  const hf::NemotronHConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t R = batch * seq, H = c.hidden_size, d = c.attention_head_dim;
  const int64_t qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  const int64_t ld = qd + 2 * kvd;
  const int64_t qd_k = c.num_attention_heads * AttentionKernelHeadDim(d);
  T* qkv = workspace_.proj.as<T>();                 // [R, qd + 2·kvd]  q ‖ k ‖ v
  T* out = workspace_.attn.as<T>() + 3 * R * qd_k;  // [R, n_q·d_k]  heads, zero-widened
  auto mark = [&](const char* stage) {
    if (timer != nullptr) timer->Mark(stream_, stage);
  };
  RETURN_IF_ERROR(gemm_->Run(act, act,
                             {.x = workspace_.z.get(),
                              .ldx = H,
                              .w = layer.qkv_proj,
                              .y = qkv,
                              .ldy = ld,
                              .rows = R,
                              .in = H,
                              .out = ld}));
  mark("gemm_qkv");
  RETURN_IF_ERROR(GqaAttention<T>(qkv, qkv + qd, qkv + qd + kvd, ld, out, batch, seq));
  mark("attention");
  if (r.block_observer) {
    // GqaAttention left K, V head-major in the workspace: [B, n_q, S, d_k] each, every KV head
    // repeated n_q/n_kv times, zero-widened to d_k.
    const int64_t n_q = c.num_attention_heads, dk = AttentionKernelHeadDim(d);
    const T* k_hm = workspace_.attn.as<T>() + R * n_q * dk;
    RETURN_IF_ERROR(r.block_observer({.block = index,
                                      .kind = BlockKind::kAttn,
                                      .k = k_hm,
                                      .v = k_hm + R * n_q * dk,
                                      .kv_heads = c.num_key_value_heads,
                                      .kv_repeat = n_q / c.num_key_value_heads,
                                      .kv_head_dim = dk}));
  }
  RETURN_IF_ERROR(gemm_->Run(act, DType::kFloat32,
                             {.x = out,
                              .ldx = qd_k,
                              .w = layer.o_proj,
                              .y = workspace_.x.get(),
                              .ldy = H,
                              .rows = R,
                              .in = qd_k,
                              .out = H,
                              .beta = 1.f}));
  mark("gemm_o");
  return absl::OkStatus();
}

template <typename T>
absl::Status CudaNemotronHModel::GqaAttention(const T* q, const T* k, const T* v, int64_t ld,
                                              T* out, int64_t batch, int64_t seq) {
  const hf::NemotronHConfig& c = config_;
  const int64_t n_q = c.num_attention_heads, n_kv = c.num_key_value_heads;
  const int64_t d = c.attention_head_dim, R = batch * seq;
  // The kernels' head dim d_k ≥ d: zero columns change neither q·k nor the output; the kernels
  // scale scores by 1/√d_k, so q is scaled by √(d_k/d) (a power of two for d = 16 → 64).
  const int64_t dk = AttentionKernelHeadDim(d);
  const float q_scale = std::sqrt(static_cast<float>(dk) / static_cast<float>(d));
  T* q_hm = workspace_.attn.as<T>();  // [B, n_q, S, d_k] each; K, V heads repeated n_q/n_kv times
  T* k_hm = q_hm + R * n_q * dk;
  T* v_hm = k_hm + R * n_q * dk;
  RETURN_IF_ERROR(
      kernels::LaunchToHeadMajor<T>(q, ld, n_q, q_hm, n_q, batch, seq, d, stream_, dk, q_scale));
  RETURN_IF_ERROR(
      kernels::LaunchToHeadMajor<T>(k, ld, n_kv, k_hm, n_q, batch, seq, d, stream_, dk));
  RETURN_IF_ERROR(
      kernels::LaunchToHeadMajor<T>(v, ld, n_kv, v_hm, n_q, batch, seq, d, stream_, dk));
#if EVO2_HAVE_CUDNN
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    // A plan exists only where Reserve's policy chose cuDNN (and cuDNN accepted the shape).
    if (cudnn_attention_ != nullptr && cudnn_attention_->FindPlan(batch, n_q, seq, dk) != nullptr) {
      const absl::Status s = cudnn_attention_->Run(q_hm, k_hm, v_hm, out, batch, n_q, seq, dk);
      if (s.code() != absl::StatusCode::kUnimplemented) return s;
      cudnn_policy_->MarkRefused(batch, seq);  // the own kernel computes the same function
    }
  }
#endif
  return kernels::LaunchCausalAttention<T>(q_hm, k_hm, v_hm, out, batch, n_q, seq, dk, stream_);
}

// MLP mixer ('-'): x += W_down · ReLU(W_up·u)², in row chunks so [rows, F] stays bounded.
template <typename T>
absl::Status CudaNemotronHModel::MlpMixer(const DeviceNemotronHLayer& layer, int64_t R,
                                          StageTimer* timer) {
  const DType act = weights_.act_dtype;
  const int64_t H = config_.hidden_size, F = config_.intermediate_size;
  T* mlp = workspace_.mlp.as<T>();  // [chunk, F]
  const T* z = workspace_.z.as<T>();
  float* x = workspace_.x.as<float>();
  auto mark = [&](const char* stage) {
    if (timer != nullptr) timer->Mark(stream_, stage);
  };
  for (int64_t row0 = 0; row0 < R; row0 += kMlpChunkRows) {
    const int64_t rows = std::min(kMlpChunkRows, R - row0);
    RETURN_IF_ERROR(gemm_->Run(act, act,
                               {.x = z + row0 * H,
                                .ldx = H,
                                .w = layer.up_proj,
                                .y = mlp,
                                .ldy = F,
                                .rows = rows,
                                .in = H,
                                .out = F}));
    mark("gemm_mlp_up");
    RETURN_IF_ERROR(kernels::LaunchSquaredRelu<T>(mlp, rows * F, stream_));
    mark("squared_relu");
    RETURN_IF_ERROR(gemm_->Run(act, DType::kFloat32,
                               {.x = mlp,
                                .ldx = F,
                                .w = layer.down_proj,
                                .y = x + row0 * H,
                                .ldy = H,
                                .rows = rows,
                                .in = F,
                                .out = H,
                                .beta = 1.f}));
    mark("gemm_mlp_down");
  }
  return absl::OkStatus();
}

template absl::Status CudaNemotronHModel::RunTyped<float>(const RunRequest&);
template absl::Status CudaNemotronHModel::RunTyped<__nv_bfloat16>(const RunRequest&);

}  // namespace evo2::cuda
