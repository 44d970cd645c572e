#include "cuda/cuda_decoder.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "cuda/cuda_decoder_slots.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/decode_program.cuh"
#include "kernels/embedding.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_state.cuh"
#include "kernels/hyena_step.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {

absl::StatusOr<std::unique_ptr<Decoder>> CudaModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new CudaDecoder(*this, options));
}

CudaDecoder::CudaDecoder(CudaModel& model, DecoderOptions options)
    : CachedStateDecoder(model.gemm(), model.weights().act_dtype, model.stream(), options,
                         {.vocab = model.config().vocab_size,
                          .attn_heads = model.config().num_heads,
                          .attn_head_dim = model.config().head_dim},
                         model.config(), model.weights()),
      model_(model),
      config_(model.config()),
      weights_(model.weights()) {
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_PERSISTENT"); v != nullptr)
    use_program_ = std::string_view(v) == "1";
  if (use_program_) {
    if (absl::Status s = kernels::DecodeProgramAvailable(); !s.ok()) {
      use_program_ = false;
      program_error_ = std::string(s.message());
    }
  }
  for (const DeviceBlockWeights& b : weights_.blocks)
    if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm)
      extend_halo_ = std::max<int64_t>(extend_halo_, b.fir_length - 1);
}

size_t CudaDecoder::device_bytes() const {
  return shared_device_bytes() + x_.bytes() + z_.bytes() + big_.bytes() + o_.bytes() + q_.bytes() +
         mlp_.bytes() + logits_.bytes() + modal_in_.bytes() + modal_end_.bytes() + hcl_ws_.bytes();
}

absl::Status CudaDecoder::RunPrompt(RunRequest& req, int64_t slot) {
  const int64_t S = req.seq;
  req.block_observer = [&](const BlockIntermediates& bi) { return DeriveBlockState(bi, slot, S); };
  return model_.Run(req);
}

absl::Status CudaDecoder::DeriveBlockState(const BlockIntermediates& bi, int64_t slot,
                                           int64_t seq) {
  return weights_.act_dtype == DType::kFloat32 ? DeriveTyped<float>(bi, slot, seq)
                                               : DeriveTyped<__nv_bfloat16>(bi, slot, seq);
}

template <typename T>
absl::Status CudaDecoder::DeriveTyped(const BlockIntermediates& bi, int64_t slot, int64_t S) {
  const DeviceBlockWeights& w = weights_.blocks[static_cast<size_t>(bi.block)];
  const CudaBlockState st = state_.block(bi.block);
  const int64_t H = config_.hidden_size;
  cudaStream_t stream = model_.stream();
  if (w.kind == BlockKind::kAttn) {
    // [heads, S, d] rows of the forward into rows 0..S−1 of [heads, cap, d] for this slot.
    const int64_t heads = config_.num_heads, d = config_.head_dim, cap = state_.kv_cap();
    const size_t row = static_cast<size_t>(S * d) * sizeof(T);
    const size_t pitch = static_cast<size_t>(cap * d) * sizeof(T);
    CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(st.k.as<T>() + slot * heads * cap * d, pitch, bi.k, row,
                                           row, static_cast<size_t>(heads),
                                           cudaMemcpyDeviceToDevice, stream));
    CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(st.v.as<T>() + slot * heads * cap * d, pitch, bi.v, row,
                                           row, static_cast<size_t>(heads),
                                           cudaMemcpyDeviceToDevice, stream));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(kernels::LaunchRingFromRows<T>(static_cast<const T*>(bi.proj), 3 * H, S, 3 * H, 2,
                                                 st.proj_tail.as<T>() + slot * 2 * 3 * H, stream));
  if (w.kind == BlockKind::kHcl) {
    return kernels::LaunchHyenaModalState<T>(
        static_cast<const T*>(bi.a), S, H, w.log_poles,
        st.modal.as<float>() + slot * kernels::kHyenaLongModes * H, stream);
  }
  const int64_t n = w.fir_length - 1;
  return kernels::LaunchRingFromRows<T>(static_cast<const T*>(bi.a), H, S, H, n,
                                        st.fir_tail.as<T>() + slot * n * H, stream);
}

absl::Status CudaDecoder::AllocateStepBuffers(int64_t B) {
  const int64_t H = config_.hidden_size, I = config_.inner_mlp_size, V = config_.vocab_size;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const auto b = static_cast<size_t>(B);
  ASSIGN_OR_RETURN(x_, kernels::DeviceBuffer::Allocate(b * H * sizeof(float)));
  ASSIGN_OR_RETURN(z_, kernels::DeviceBuffer::Allocate(b * H * act));
  ASSIGN_OR_RETURN(big_, kernels::DeviceBuffer::Allocate(b * 3 * H * act));
  ASSIGN_OR_RETURN(o_, kernels::DeviceBuffer::Allocate(b * H * act));
  ASSIGN_OR_RETURN(q_, kernels::DeviceBuffer::Allocate(
                           b * static_cast<size_t>(config_.num_heads * config_.head_dim) * act));
  ASSIGN_OR_RETURN(mlp_, kernels::DeviceBuffer::Allocate(b * 2 * I * act));
  ASSIGN_OR_RETURN(logits_, kernels::DeviceBuffer::Allocate(b * V * sizeof(float)));
  if (program_barrier_.get() == nullptr) {
    // Zeroed once, never reset: the barrier counts rounds by division (decode_program.cuh).
    ASSIGN_OR_RETURN(program_barrier_, kernels::DeviceBuffer::Allocate(sizeof(uint64_t)));
    CUDA_RETURN_IF_ERROR(cudaMemset(program_barrier_.get(), 0, sizeof(uint64_t)));
  }
  return absl::OkStatus();
}

absl::Status CudaDecoder::EnqueueStep(int64_t B) {
  return weights_.act_dtype == DType::kFloat32 ? EnqueueStepTyped<float>(B)
                                               : EnqueueStepTyped<__nv_bfloat16>(B);
}

kernels::HyenaStepArgs CudaDecoder::HyenaStepOf(const DeviceBlockWeights& blk,
                                                const CudaBlockState& state) {
  kernels::HyenaStepArgs a{
      .short_taps = blk.short_taps, .proj_tail = state.proj_tail.get(), .skip_d = blk.skip_d};
  if (blk.kind == BlockKind::kHcl) {
    a.log_poles = blk.log_poles;
    a.residues = blk.residues;
    a.modal = state.modal.as<float>();
  } else {
    a.fir_taps = blk.fir_taps;
    a.fir_tail = state.fir_tail.get();
    a.groups = blk.fir_groups;
    a.taps = blk.fir_length;
  }
  return a;
}

template <typename T>
absl::Status CudaDecoder::AttentionStep(const DeviceBlockWeights& blk, const CudaBlockState& state,
                                        int64_t B) {
  const int64_t heads = config_.num_heads, d = config_.head_dim, cap = state_.kv_cap();
  cudaStream_t st = model_.stream();
  RETURN_IF_ERROR(kernels::LaunchRotaryKvAppend<T>(
      big_.as<T>(), blk.inv_freq, static_cast<float>(config_.rotary_position_scale),
      batch_.positions(), q_.as<T>(), state.k.as<T>(), state.v.as<T>(), B, heads, d, cap, st));
  return kernels::LaunchDecodeAttention<T>(q_.as<T>(), state.k.as<T>(), state.v.as<T>(),
                                           batch_.positions(), o_.as<T>(), attn_ws_.get(),
                                           attn_ws_.bytes(), B, heads, d, cap, st);
}

template <typename T>
absl::Status CudaDecoder::EmbedStepTokens(int64_t B) {
  const int64_t H = config_.hidden_size;
  cudaStream_t st = model_.stream();
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(batch_.tokens(),
                                              static_cast<const T*>(weights_.embedding), z_.as<T>(),
                                              B, H, config_.vocab_size, st));
  return kernels::LaunchConvert<T, float>(z_.as<T>(), x_.as<float>(), B * H, st);
}

template <typename T>
absl::Status CudaDecoder::StepHead(int64_t B) {
  // logits [B, V] = RMSNorm_final(x)·Eᵀ
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  RETURN_IF_ERROR(linear_.RunNormed<T>(
      DType::kFloat32,
      {.w = weights_.embedding, .y = logits_.get(), .ldy = V, .rows = B, .in = H, .out = V},
      {.x = x_.as<float>(),
       .scale = weights_.final_norm,
       .eps = static_cast<float>(config_.eps),
       .z = z_.get()}));
  return batch_.CopyLogits(logits_.as<float>(), model_.stream());
}

template <typename T>
absl::Status CudaDecoder::EnqueueStepTyped(int64_t B) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    if (UseProgram(B)) {
      // A shape the persistent kernel refuses is refused before anything is enqueued: the
      // per-op step below runs instead, from then on.
      const absl::Status s = EnqueueProgramStep();
      if (s.code() != absl::StatusCode::kUnimplemented) return s;
      use_program_ = false;
      program_error_ = std::string(s.message());
    }
  }
  const ModelConfig& cfg = config_;
  const DType act = weights_.act_dtype;
  const int64_t H = cfg.hidden_size, I = cfg.inner_mlp_size;
  cudaStream_t st = model_.stream();
  float* x = x_.as<float>();
  T* z = z_.as<T>();
  T* big = big_.as<T>();
  T* o = o_.as<T>();
  T* mlp = mlp_.as<T>();
  const int32_t* positions = batch_.positions();

  // The forward's operations (cuda_forward.cc, docs/spec/model.md §5-8) on B rows.
  // RMSNorm(x (+ bias)) as a linear's input (cuda_decoder_linear.h), z the scratch rows.
  const auto norm = [&](const void* scale, const void* bias) {
    return DecodeNorm{
        .x = x, .scale = scale, .bias = bias, .eps = static_cast<float>(cfg.eps), .z = z};
  };
  RETURN_IF_ERROR(EmbedStepTokens<T>(B));
  for (int i = 0; i < cfg.num_layers; ++i) {
    const DeviceBlockWeights& blk = weights_.blocks[static_cast<size_t>(i)];
    const CudaBlockState state = state_.block(i);
    // big [B, 3H] = RMSNorm_pre(x)·W_inᵀ
    RETURN_IF_ERROR(linear_.RunNormed<T>(
        act, {.w = blk.in_proj, .y = big, .ldy = 3 * H, .rows = B, .in = H, .out = 3 * H},
        norm(blk.pre_norm, nullptr), &blk.in_proj_fp8));
    // o [B, H] = mixer step
    if (blk.kind == BlockKind::kAttn) {
      RETURN_IF_ERROR(AttentionStep<T>(blk, state, B));
    } else {
      kernels::HyenaStepArgs a = HyenaStepOf(blk, state);
      a.proj = big;
      a.positions = positions;
      a.out = o;
      a.batch = B;
      a.hidden = H;
      RETURN_IF_ERROR(kernels::LaunchHyenaStep<T>(a, st));
    }
    const bool gelu = i == 0 && cfg.mlp_activation == MlpActivation::kArc;  // §6
    // x += o·W_outᵀ (b_out is added by the post-norm's kernel below)
    RETURN_IF_ERROR(Linear<T>(DType::kFloat32,
                              {.x = o,
                               .ldx = H,
                               .w = blk.out_proj,
                               .y = x,
                               .ldy = H,
                               .rows = B,
                               .in = H,
                               .out = H,
                               .beta = 1.f},
                              &blk.out_proj_fp8));
    // x += b_out, then mlp[:, :I] = gate(RMSNorm_post(x)·[l1; l2]ᵀ): the gate inside the product
    // where it can be.
    RETURN_IF_ERROR(linear_.RunNormedGatedMlp<T>(
        {.w = blk.mlp_l12, .y = mlp, .ldy = 2 * I, .rows = B, .in = H, .out = 2 * I}, gelu,
        norm(blk.post_norm, blk.out_bias), &blk.mlp_l12_fp8));
    RETURN_IF_ERROR(Linear<T>(DType::kFloat32,
                              {.x = mlp,
                               .ldx = 2 * I,
                               .w = blk.mlp_l3,
                               .y = x,
                               .ldy = H,
                               .rows = B,
                               .in = I,
                               .out = H,
                               .beta = 1.f},
                              &blk.mlp_l3_fp8));
  }
  // logits [B, V] = RMSNorm_final(x)·Eᵀ
  return StepHead<T>(B);
}

// The persistent step (cuda_decoder_program.cc) shares the embedding and the head.
template absl::Status CudaDecoder::EmbedStepTokens<__nv_bfloat16>(int64_t);
template absl::Status CudaDecoder::StepHead<__nv_bfloat16>(int64_t);
template absl::Status CudaDecoder::AttentionStep<__nv_bfloat16>(const DeviceBlockWeights&,
                                                                const CudaBlockState&, int64_t);

}  // namespace evo2::cuda
