// The batch-1 bf16 Evo 2 step as decode-program launches (kernels/decode_program.cuh): every
// linear layer of a run of blocks, with its RMSNorm, MLP gate, residual add and the Hyena mixer
// step, in one persistent kernel; a segment ends where an attention block's rotary, KV append
// and attention kernels must run (docs/adr/0006). The embedding and the head run as in the
// per-op step.
#include <cuda_bf16.h>

#include <limits>
#include <vector>

#include "cuda/cuda_decoder.h"
#include "evo2/status_macros.h"
#include "kernels/decode_program.cuh"

namespace evo2::cuda {

bool CudaDecoder::UseProgram(int64_t batch) const {
  return use_program_ && batch == 1 && weights_.act_dtype == DType::kBFloat16 &&
         config_.hidden_size <= std::numeric_limits<int32_t>::max() / 3;
}

absl::Status CudaDecoder::EnqueueProgramStep() {
  using T = __nv_bfloat16;
  using kernels::DecodeOp;
  using kernels::DecodeOpInput;
  using kernels::DecodeOpOutput;
  const ModelConfig& cfg = config_;
  const auto H = static_cast<int32_t>(cfg.hidden_size);
  const auto I = static_cast<int32_t>(cfg.inner_mlp_size);
  const auto eps = static_cast<float>(cfg.eps);
  cudaStream_t st = model_.stream();
  float* x = x_.as<float>();
  T* big = big_.as<T>();
  T* o = o_.as<T>();
  T* mlp = mlp_.as<T>();

  // The step as pieces: a segment of ops, then (for an attention block) that block's rotary,
  // KV append and attention. Every segment is checked before anything is enqueued, so a shape
  // the kernel refuses leaves the caller free to run the per-op step instead.
  struct Piece {
    kernels::DecodeSegment seg;
    int attention_block = -1;
  };
  std::vector<Piece> pieces(1);
  const auto add = [&](const DecodeOp& op) {
    if (pieces.back().seg.n_ops == kernels::kDecodeProgramMaxOps) pieces.emplace_back();
    kernels::DecodeSegment& seg = pieces.back().seg;
    seg.ops[seg.n_ops++] = op;
  };
  // An FP8 model's products stream the E4M3 copies the per-op step would (cuda_decoder_linear.h).
  const auto streamed = [&](DecodeOp op, const DeviceFp8Linear& w8) {
    if (const DeviceFp8Linear* copy = linear_.StreamedFp8Copy(&w8, op.in); copy != nullptr) {
      op.w = copy->q;
      op.w_inv_scale = copy->inv_scale;
    }
    return op;
  };
  for (int i = 0; i < cfg.num_layers; ++i) {
    const DeviceBlockWeights& blk = weights_.blocks[static_cast<size_t>(i)];
    const CudaBlockState state = state_.block(i);
    // The forward's operations (cuda_forward.cc, docs/spec/model.md §5-8) on one row.
    DecodeOp in_proj{.input = DecodeOpInput::kNormedResidual,
                     .in = H,
                     .out = 3 * H,
                     .w = blk.in_proj,
                     .x = x,
                     .norm_scale = blk.pre_norm,
                     .eps = eps};
    if (blk.kind == BlockKind::kAttn) {
      // big [3H] = RMSNorm_pre(x)·Wqkvᵀ, then rotary, KV append and attention into o.
      in_proj.output = DecodeOpOutput::kStore;
      in_proj.y = big;
      add(streamed(in_proj, blk.in_proj_fp8));
      pieces.back().attention_block = i;
      pieces.emplace_back();
    } else {
      // o [H] = the Hyena mixer step over RMSNorm_pre(x)·W_inᵀ.
      in_proj.output = DecodeOpOutput::kHyenaStep;
      in_proj.y = o;
      in_proj.hyena = HyenaStepOf(blk, state);
      add(streamed(in_proj, blk.in_proj_fp8));
    }
    // x += o·W_outᵀ + b_out
    add(streamed({.input = DecodeOpInput::kPlain,
                  .output = DecodeOpOutput::kResidualAdd,
                  .in = H,
                  .out = H,
                  .w = blk.out_proj,
                  .x = o,
                  .y = x,
                  .bias = blk.out_bias},
                 blk.out_proj_fp8));
    // mlp [I] = gate(RMSNorm_post(x)·[l1; l2]ᵀ);  x += mlp·l3ᵀ
    add(streamed({.input = DecodeOpInput::kNormedResidual,
                  .output = DecodeOpOutput::kGatedStore,
                  .in = H,
                  .out = I,
                  .w = blk.mlp_l12,
                  .x = x,
                  .norm_scale = blk.post_norm,
                  .eps = eps,
                  .gelu = i == 0 && cfg.mlp_activation == MlpActivation::kArc,  // §6
                  .y = mlp},
                 blk.mlp_l12_fp8));
    add(streamed({.input = DecodeOpInput::kPlain,
                  .output = DecodeOpOutput::kResidualAdd,
                  .in = I,
                  .out = H,
                  .w = blk.mlp_l3,
                  .x = mlp,
                  .y = x},
                 blk.mlp_l3_fp8));
  }
  for (Piece& p : pieces) {
    p.seg.position = batch_.positions();
    p.seg.barrier = program_barrier_.as<unsigned long long>();
    if (p.seg.n_ops > 0) RETURN_IF_ERROR(kernels::CheckDecodeSegment(p.seg));
  }

  RETURN_IF_ERROR(EmbedStepTokens<T>(1));
  for (const Piece& p : pieces) {
    if (p.seg.n_ops > 0) RETURN_IF_ERROR(kernels::LaunchDecodeProgram(p.seg, st));
    if (p.attention_block >= 0) {
      const auto blk = static_cast<size_t>(p.attention_block);
      RETURN_IF_ERROR(AttentionStep<T>(weights_.blocks[blk], state_.block(p.attention_block), 1));
    }
  }
  return StepHead<T>(1);
}

}  // namespace evo2::cuda
