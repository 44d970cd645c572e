#include "cuda/nemotron_h/nemotron_h_cuda_decoder.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/embedding.cuh"
#include "kernels/group_rms_norm.cuh"
#include "kernels/hyena_state.cuh"
#include "kernels/mamba_step.cuh"
#include "kernels/rotary_gqa.cuh"
#include "kernels/squared_relu.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {

using hf::NemotronHLayerKind;

absl::StatusOr<std::unique_ptr<Decoder>> CudaNemotronHModel::NewDecoder(
    const DecoderOptions& options) {
  if (config_.conv_kernel < 2 || config_.conv_kernel > 8)
    return absl::UnimplementedError(absl::StrCat("cuda NemotronH decoder: conv_kernel ",
                                                 config_.conv_kernel, " (supported: 2..8)"));
  return std::unique_ptr<Decoder>(new NemotronHCudaDecoder(*this, options));
}

NemotronHCudaDecoder::NemotronHCudaDecoder(CudaNemotronHModel& model, DecoderOptions options)
    : CachedStateDecoder(
          model.gemm(), model.weights().act_dtype, model.stream(), options,
          {.vocab = model.nemotron_config().vocab_size,
           .attn_heads = model.nemotron_config().num_attention_heads,
           .attn_head_dim = AttentionKernelHeadDim(model.nemotron_config().attention_head_dim)}),
      model_(model),
      config_(model.nemotron_config()),
      weights_(model.weights()),
      attn_head_dim_(shape_.attn_head_dim) {
  const hf::NemotronHConfig& c = config_;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  for (NemotronHLayerKind kind : c.layers) {
    LayerState ls;
    if (kind == NemotronHLayerKind::kMamba) {
      ls.conv = state_.AddFixed(static_cast<size_t>((c.conv_kernel - 1) * c.ConvChannels()) * act);
      ls.ssm = state_.AddFixed(
          static_cast<size_t>(c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size) *
          sizeof(float));
    } else if (kind == NemotronHLayerKind::kAttention) {
      const size_t row = static_cast<size_t>(attn_head_dim_) * act;
      ls.k = state_.AddKv(c.num_key_value_heads, row);
      ls.v = state_.AddKv(c.num_key_value_heads, row);
    }
    layers_.push_back(ls);
  }
}

size_t NemotronHCudaDecoder::device_bytes() const {
  return shared_device_bytes() + x_.bytes() + z_.bytes() + proj_.bytes() + xbc_.bytes() +
         q_.bytes() + y_.bytes() + logits_.bytes();
}

absl::Status NemotronHCudaDecoder::RunPrompt(RunRequest& req, int64_t slot) {
  const int64_t S = req.seq;
  req.block_observer = [&](const BlockIntermediates& bi) {
    return weights_.act_dtype == DType::kFloat32 ? DeriveState<float>(bi, slot, S)
                                                 : DeriveState<__nv_bfloat16>(bi, slot, S);
  };
  return model_.Run(req);
}

template <typename T>
absl::Status NemotronHCudaDecoder::DeriveState(const BlockIntermediates& bi, int64_t slot,
                                               int64_t S) {
  const hf::NemotronHConfig& c = config_;
  const LayerState& ls = layers_[static_cast<size_t>(bi.block)];
  cudaStream_t st = model_.stream();
  if (ls.k >= 0) {
    return CopyPrefillKv(bi, S, static_cast<size_t>(attn_head_dim_) * sizeof(T), state_, ls.k, ls.v,
                         slot, st);
  }
  if (ls.conv < 0) return absl::OkStatus();
  const DeviceNemotronHLayer& w = weights_.layers[static_cast<size_t>(bi.block)];
  const int64_t di = c.MambaInner(), GN = c.n_groups * c.ssm_state_size, C = c.ConvChannels();
  const int64_t n = c.conv_kernel - 1;
  const T* proj = static_cast<const T*>(bi.mamba_proj);  // [S, R_in]  z ‖ xBC ‖ dt
  const T* conv = static_cast<const T*>(bi.mamba_conv);  // [S, C]  x̂ ‖ B ‖ C
  // Conv ring: the last K−1 raw inputs x‖B‖C.
  RETURN_IF_ERROR(kernels::LaunchRingFromRows<T>(proj + di, bi.mamba_proj_ld, S, C, n,
                                                 state_.as<T>(ls.conv) + slot * n * C, st));
  // σ after the prompt.
  kernels::SsmStepArgs<T> a;
  a.x = conv;
  a.ld_x = C;
  a.B = conv + di;
  a.ld_bc = C;
  a.dt_raw = proj + 2 * di + 2 * GN;
  a.ld_dt = bi.mamba_proj_ld;
  a.dt_bias = w.dt_bias;
  a.A = w.A;
  a.state =
      state_.as<float>(ls.ssm) + slot * c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size;
  a.rows = S;
  a.heads = c.mamba_num_heads;
  a.head_dim = c.mamba_head_dim;
  a.groups = c.n_groups;
  a.state_size = c.ssm_state_size;
  return kernels::LaunchSsmState<T>(a, st);
}

absl::Status NemotronHCudaDecoder::AllocateStepBuffers(int64_t B) {
  const hf::NemotronHConfig& c = config_;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const int64_t qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.attention_head_dim;
  const int64_t qd_k = c.num_attention_heads * attn_head_dim_;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const auto b = static_cast<size_t>(B);
  const int64_t proj_w = std::max({c.InProjRows(), qkv, c.intermediate_size});
  ASSIGN_OR_RETURN(x_, kernels::DeviceBuffer::Allocate(b * H * sizeof(float)));
  ASSIGN_OR_RETURN(z_, kernels::DeviceBuffer::Allocate(b * H * act));
  ASSIGN_OR_RETURN(proj_, kernels::DeviceBuffer::Allocate(b * proj_w * act));
  ASSIGN_OR_RETURN(xbc_,
                   kernels::DeviceBuffer::Allocate(b * std::max(c.ConvChannels(), qd_k) * act));
  ASSIGN_OR_RETURN(q_, kernels::DeviceBuffer::Allocate(b * qd_k * act));
  ASSIGN_OR_RETURN(y_, kernels::DeviceBuffer::Allocate(b * c.MambaInner() * sizeof(float)));
  ASSIGN_OR_RETURN(logits_, kernels::DeviceBuffer::Allocate(b * V * sizeof(float)));
  return absl::OkStatus();
}

absl::Status NemotronHCudaDecoder::EnqueueStep(int64_t B) {
  return weights_.act_dtype == DType::kFloat32 ? EnqueueStepTyped<float>(B)
                                               : EnqueueStepTyped<__nv_bfloat16>(B);
}

template <typename T>
absl::Status NemotronHCudaDecoder::EnqueueStepTyped(int64_t B) {
  const hf::NemotronHConfig& c = config_;
  const DType act = weights_.act_dtype;
  const int64_t H = c.hidden_size, V = c.vocab_size, F = c.intermediate_size;
  const int64_t di = c.MambaInner(), GN = c.n_groups * c.ssm_state_size;
  const int64_t C = c.ConvChannels(), R_in = c.InProjRows();
  const int64_t n_q = c.num_attention_heads, n_kv = c.num_key_value_heads;
  const int64_t d = c.attention_head_dim, dk = attn_head_dim_, qd_k = n_q * dk;
  const int64_t ld_qkv = (n_q + 2 * n_kv) * d, cap = state_.kv_cap();
  cudaStream_t st = model_.stream();
  float* x = x_.as<float>();
  T* z = z_.as<T>();
  T* proj = proj_.as<T>();
  T* xbc = xbc_.as<T>();
  const int32_t* positions = batch_.positions();
  auto linear = [&](DType result, const GemmArgs& g) { return linear_.Run<T>(result, g); };

  // The forward's operations (nemotron_h_forward.cc, README steps) on B rows.
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(
      batch_.tokens(), static_cast<const T*>(weights_.embedding), z, B, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, B * H, st));
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    const DeviceNemotronHLayer& w = weights_.layers[i];
    const LayerState& ls = layers_[i];
    // z = RMSNorm(x; norm_i), ε inside the root.
    RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(x, H, nullptr, 0, static_cast<const T*>(w.norm),
                                                   z, H, B, H, H, c.eps, st));
    switch (w.kind) {
      case NemotronHLayerKind::kMamba: {
        // 1. p = W_in·u  [B, R_in]  z ‖ xBC ‖ dt.  2–3. conv step + SiLU → xbc [B, C].
        RETURN_IF_ERROR(linear(act, {.x = z,
                                     .ldx = H,
                                     .w = w.in_proj,
                                     .y = proj,
                                     .ldy = R_in,
                                     .rows = B,
                                     .in = H,
                                     .out = R_in}));
        RETURN_IF_ERROR(kernels::LaunchMambaConvStep<T>(proj + di, R_in, w.conv_weight, w.conv_bias,
                                                        positions, state_.as<T>(ls.conv), xbc, B, C,
                                                        c.conv_kernel, st));
        // 4–6. Δ, the SSM state update and y = σ·C + D·x  → y [B, d_inner] fp32.
        kernels::SsmStepArgs<T> a;
        a.x = xbc;
        a.ld_x = C;
        a.B = xbc + di;
        a.C = xbc + di + GN;
        a.ld_bc = C;
        a.dt_raw = proj + 2 * di + 2 * GN;
        a.ld_dt = R_in;
        a.dt_bias = w.dt_bias;
        a.A = w.A;
        a.D = w.D;
        a.state = state_.as<float>(ls.ssm);
        a.y = y_.as<float>();
        a.ld_y = di;
        a.rows = B;
        a.heads = c.mamba_num_heads;
        a.head_dim = c.mamba_head_dim;
        a.groups = c.n_groups;
        a.state_size = c.ssm_state_size;
        RETURN_IF_ERROR(kernels::LaunchSsmStep<T>(a, st));
        // 7. v = GroupRMSNorm(y ⊙ SiLU(z)) → xbc [B, d_inner].  8. x += W_out·v.
        RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(y_.as<float>(), di, proj, R_in,
                                                       static_cast<const T*>(w.gated_norm), xbc, di,
                                                       B, di, di / c.n_groups, c.eps, st));
        RETURN_IF_ERROR(linear(DType::kFloat32, {.x = xbc,
                                                 .ldx = di,
                                                 .w = w.out_proj,
                                                 .y = x,
                                                 .ldy = H,
                                                 .rows = B,
                                                 .in = di,
                                                 .out = H,
                                                 .beta = 1.f}));
        break;
      }
      case NemotronHLayerKind::kAttention: {
        // q ‖ k ‖ v [B, ld_qkv]; K, V appended at t_b (no positions: no rotation), heads
        // widened to d_k and q scaled by √(d_k/d) as the forward does (nemotron_h_forward.cc
        // GqaAttention); attention over rows 0..t_b → xbc [B, n_q·d_k]; x += W_o·out.
        T* k_cache = state_.as<T>(ls.k);
        T* v_cache = state_.as<T>(ls.v);
        RETURN_IF_ERROR(linear(act, {.x = z,
                                     .ldx = H,
                                     .w = w.qkv_proj,
                                     .y = proj,
                                     .ldy = ld_qkv,
                                     .rows = B,
                                     .in = H,
                                     .out = ld_qkv}));
        const float q_scale = std::sqrt(static_cast<float>(dk) / static_cast<float>(d));
        RETURN_IF_ERROR(kernels::LaunchRotaryGqaKvAppend<T>(
            proj, nullptr, positions, q_.as<T>(), k_cache, v_cache, B,
            {.heads = n_q, .kv_heads = n_kv, .head_dim = d}, cap, st,
            {.cache_head_dim = dk, .q_scale = q_scale}));
        RETURN_IF_ERROR(kernels::LaunchDecodeAttentionGqa<T>(
            q_.as<T>(), k_cache, v_cache, positions, xbc, attn_ws_.get(), attn_ws_.bytes(), B, n_q,
            n_kv, dk, cap, st));
        RETURN_IF_ERROR(linear(DType::kFloat32, {.x = xbc,
                                                 .ldx = qd_k,
                                                 .w = w.o_proj,
                                                 .y = x,
                                                 .ldy = H,
                                                 .rows = B,
                                                 .in = qd_k,
                                                 .out = H,
                                                 .beta = 1.f}));
        break;
      }
      case NemotronHLayerKind::kMlp:
        // x += W_down · ReLU(W_up·u)²
        RETURN_IF_ERROR(linear(
            act,
            {.x = z, .ldx = H, .w = w.up_proj, .y = proj, .ldy = F, .rows = B, .in = H, .out = F}));
        RETURN_IF_ERROR(kernels::LaunchSquaredRelu<T>(proj, B * F, st));
        RETURN_IF_ERROR(linear(DType::kFloat32, {.x = proj,
                                                 .ldx = F,
                                                 .w = w.down_proj,
                                                 .y = x,
                                                 .ldy = H,
                                                 .rows = B,
                                                 .in = F,
                                                 .out = H,
                                                 .beta = 1.f}));
        break;
    }
  }
  // logits [B, V] = RMSNorm(x; norm_f)·W_lmᵀ
  RETURN_IF_ERROR(kernels::LaunchGroupRmsNorm<T>(
      x, H, nullptr, 0, static_cast<const T*>(weights_.final_norm), z, H, B, H, H, c.eps, st));
  RETURN_IF_ERROR(linear(DType::kFloat32, {.x = z,
                                           .ldx = H,
                                           .w = weights_.lm_head,
                                           .y = logits_.get(),
                                           .ldy = V,
                                           .rows = B,
                                           .in = H,
                                           .out = V}));
  return batch_.CopyLogits(logits_.as<float>(), st);
}

}  // namespace evo2::cuda
