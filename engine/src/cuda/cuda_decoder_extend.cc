// CudaDecoder::Extend (evo2/decoder.h): each sequence's suffix of L tokens through the parallel
// forward of cuda_forward.cc (the [L, ·] GEMMs, featurizer, filters, attention and chunked head),
// seeded with the sequence's cached state the way a context-parallel rank is seeded with its
// predecessor's (docs/parallelism.md §2–4):
//   featurizer  the slot's 2 cached projection rows in front of the suffix's: [2 + L, 3H]
//   hcs / hcm   the slot's K − 1 cached k⊙v rows in front of the suffix's:    [K − 1 + L, H]
//               (kernels/hyena_extend_state.cuh unrolls the rings into these halos)
//   hcl         the gate started from the slot's 16-mode state (LaunchHyenaLongGate's
//               initial_state, as a CP rank's incoming state); the new state is
//               p^L ⊙ s + e, e the suffix's zero-state end state (kernels/hyena_long_cp.cuh)
//   attention   rotary at positions pos…pos+L−1, K and V appended to the slot's cache, the
//               queries against cache rows 0…pos+i (LaunchCausalGqaAttentionAtOffset)
// A halo row's own outputs come from a history that is not there; they are dropped. Every
// suffix row sees exactly the inputs it sees in one forward over the whole sequence, so Extend
// agrees with that forward up to rounding: bf16 attention runs the own kernel where the whole
// forward may run cuDNN's, and the hcl gate starts from the fp32 state instead of scanning the
// prefix (both within the decode tolerance of tests/engine/cuda/cuda_extend_golden_test.cc).
// Linear layers use the bf16 (or fp32) weights, as the decode step does, also on FP8 models.
//
// Sequences run one after another (each its own L, its own [L, ·] GEMMs); the model's workspace
// holds the rows (the model is idle between decoder calls, evo2/decoder.h).
#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cuda/chunked_head.h"
#include "cuda/cuda_decoder.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/embedding.cuh"
#include "kernels/hyena_extend_state.cuh"
#include "kernels/hyena_featurizer.cuh"
#include "kernels/hyena_fir.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
#include "kernels/rotary.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {

absl::StatusOr<std::vector<float>> CudaDecoder::Extend(
    std::span<const std::vector<int32_t>> suffixes) {
  return RunExtend(suffixes, {});
}

absl::StatusOr<std::vector<float>> CudaDecoder::ExtendLogProbs(
    std::span<const std::vector<int32_t>> suffixes, std::span<const std::vector<int32_t>> targets) {
  RETURN_IF_ERROR(CheckExtendTargets(suffixes, targets, config_.vocab_size));
  return RunExtend(suffixes, targets);
}

absl::StatusOr<std::vector<float>> CudaDecoder::RunExtend(
    std::span<const std::vector<int32_t>> suffixes, std::span<const std::vector<int32_t>> targets) {
  const int64_t B = batch_.size(), V = config_.vocab_size;
  const int64_t width = targets.empty() ? V : 1;  // values per suffix row in the result
  if (B == 0) return absl::FailedPreconditionError("Extend: no sequences (Prefill first)");
  if (static_cast<int64_t>(suffixes.size()) != B) {
    return absl::InvalidArgumentError(
        absl::StrCat("Extend: ", suffixes.size(), " suffixes for a batch of ", B));
  }
  int64_t rows = 0, needed = 0;  // logits rows; KV positions the longest sequence will hold
  for (size_t i = 0; i < suffixes.size(); ++i) {
    if (suffixes[i].empty())
      return absl::InvalidArgumentError(absl::StrCat("Extend: suffix ", i, " is empty"));
    if (auto st = CheckForwardTokens(suffixes[i], V); !st.ok())
      return absl::Status(st.code(), absl::StrCat("Extend: suffix ", i, ": ", st.message()));
    const auto L = static_cast<int64_t>(suffixes[i].size());
    rows += L;
    needed = std::max(needed, batch_.position(static_cast<int64_t>(i)) + L);
  }
  // Room for the suffixes and the next step, in the step graphs' capacity buckets.
  if (needed + 1 > state_.kv_cap()) RETURN_IF_ERROR(state_.GrowKv(KvBucket(needed + 1), stream_));
  std::vector<float> result(static_cast<size_t>(rows * width));  // [Σ L_i, V] or [Σ L_i]
  int64_t row = 0;
  for (int64_t i = 0; i < B; ++i) {
    const auto& suffix = suffixes[static_cast<size_t>(i)];
    const std::span<const int32_t> t =
        targets.empty() ? std::span<const int32_t>() : targets[static_cast<size_t>(i)];
    float* out = result.data() + row * width;
    const absl::Status st = weights_.act_dtype == DType::kFloat32
                                ? ExtendRow<float>(i, suffix, t, out)
                                : ExtendRow<__nv_bfloat16>(i, suffix, t, out);
    if (!st.ok()) {
      // The slots are updated block by block: a half-extended batch is unusable.
      (void)cudaStreamSynchronize(stream_);
      batch_.Start({});
      return absl::Status(st.code(), absl::StrCat("Extend: suffix ", i, ": ", st.message()));
    }
    batch_.Advance(i, static_cast<int64_t>(suffix.size()));
    row += static_cast<int64_t>(suffix.size());
  }
  return result;
}

template <typename T>
absl::Status CudaDecoder::ExtendRow(int64_t slot, std::span<const int32_t> suffix,
                                    std::span<const int32_t> targets, float* out) {
  const ModelConfig& cfg = config_;
  const DType act = weights_.act_dtype;
  const auto L = static_cast<int64_t>(suffix.size());
  const int64_t pos = batch_.position(slot), halo = extend_halo_;
  const int64_t H = cfg.hidden_size, I = cfg.inner_mlp_size, V = cfg.vocab_size;
  const int64_t heads = cfg.num_heads, d = cfg.head_dim, cap = state_.kv_cap();
  cudaStream_t st = stream_;
  GemmRunner& gemm = model_.gemm();
  Workspace& ws = model_.workspace();
  RETURN_IF_ERROR(ws.Ensure(cfg, act, 1, halo + L));
  const size_t hcl_need = std::max(kernels::HyenaLongWorkspaceBytes(1, L, H),
                                   kernels::HyenaLongEndStateWorkspaceBytes(1, L, H));
  if (hcl_ws_.bytes() < hcl_need) {
    ASSIGN_OR_RETURN(hcl_ws_, kernels::DeviceBuffer::Allocate(hcl_need));
  }
  const size_t modal_bytes = static_cast<size_t>(H * kernels::kHyenaLongModes) * sizeof(float);
  if (modal_in_.bytes() < modal_bytes) {
    ASSIGN_OR_RETURN(modal_in_, kernels::DeviceBuffer::Allocate(modal_bytes));
    ASSIGN_OR_RETURN(modal_end_, kernels::DeviceBuffer::Allocate(modal_bytes));
  }
  float* x = ws.x.as<float>();                // [L, H] fp32 residual stream
  T* z = ws.z.as<T>();                        // [L, H] norm output, then attention output
  T* big = ws.big.as<T>() + halo * 3 * H;     // [L, 3H] projections (halo rows in front)
  T* mlp = ws.mlp.as<T>();                    // [mlp rows, 2I]
  int32_t* tokens = ws.tokens.as<int32_t>();  // [L]

  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(tokens, suffix.data(), L * sizeof(int32_t), cudaMemcpyHostToDevice, st));
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(tokens, static_cast<const T*>(weights_.embedding), z,
                                              L, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, L * H, st));
  for (int i = 0; i < cfg.num_layers; ++i) {
    RETURN_IF_ERROR(CancelledAt(options_.cancelled, i, cfg.num_layers));
    const DeviceBlockWeights& blk = weights_.blocks[static_cast<size_t>(i)];
    const CudaBlockState state = state_.block(i);
    // big = RMSNorm_pre(x)·W_inᵀ  (§6)
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(blk.pre_norm), z, L,
                                              H, cfg.eps, st));
    RETURN_IF_ERROR(gemm.Run(act, act,
                             {.x = z,
                              .ldx = H,
                              .w = blk.in_proj,
                              .y = big,
                              .ldy = 3 * H,
                              .rows = L,
                              .in = H,
                              .out = 3 * H}));
    const T* mixed = nullptr;  // [L, H] mixer output
    if (blk.kind == BlockKind::kAttn) {
      // q, k, v [heads, L, d] at positions pos…; k, v into cache rows pos… of the slot.
      T* q = ws.q.as<T>();
      T* k = ws.a.as<T>();
      T* v = ws.o.as<T>();
      RETURN_IF_ERROR(kernels::LaunchRotaryQkvSplit<T>(
          big, blk.inv_freq, static_cast<float>(cfg.rotary_position_scale), q, k, v, 1, L, heads, d,
          st, pos));
      T* k_cache = state.k.as<T>() + slot * heads * cap * d;  // [heads, cap, d]
      T* v_cache = state.v.as<T>() + slot * heads * cap * d;
      const size_t width = static_cast<size_t>(L * d) * sizeof(T);
      const size_t pitch = static_cast<size_t>(cap * d) * sizeof(T);
      CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(k_cache + pos * d, pitch, k, width, width,
                                             static_cast<size_t>(heads), cudaMemcpyDeviceToDevice,
                                             st));
      CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(v_cache + pos * d, pitch, v, width, width,
                                             static_cast<size_t>(heads), cudaMemcpyDeviceToDevice,
                                             st));
      RETURN_IF_ERROR(kernels::LaunchCausalGqaAttentionAtOffset<T>(q, k_cache, v_cache, z, 1, heads,
                                                                   heads, L, cap, pos, d, st));
      mixed = z;
    } else {
      RETURN_IF_ERROR(HyenaMixerExtend<T>(blk, state, slot, pos, L));
      mixed = ws.o.as<T>() + halo * H;
    }
    RETURN_IF_ERROR(gemm.Run(act, DType::kFloat32,
                             {.x = mixed,
                              .ldx = H,
                              .w = blk.out_proj,
                              .y = x,
                              .ldy = H,
                              .rows = L,
                              .in = H,
                              .out = H,
                              .beta = 1.f}));
    // x += MLP(RMSNorm_post(x + b_out)), in row chunks as the forward does.
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, static_cast<const T*>(blk.out_bias),
                                              static_cast<const T*>(blk.post_norm), z, L, H,
                                              cfg.eps, st));
    const bool gelu = i == 0 && cfg.mlp_activation == MlpActivation::kArc;  // §6
    for (int64_t row0 = 0; row0 < L; row0 += kMlpChunkRows) {
      const int64_t rows = std::min(kMlpChunkRows, L - row0);
      RETURN_IF_ERROR(gemm.Run(act, act,
                               {.x = z + row0 * H,
                                .ldx = H,
                                .w = blk.mlp_l12,
                                .y = mlp,
                                .ldy = 2 * I,
                                .rows = rows,
                                .in = H,
                                .out = 2 * I}));
      RETURN_IF_ERROR(kernels::LaunchMlpGate<T>(mlp, rows, I, gelu, st));
      RETURN_IF_ERROR(gemm.Run(act, DType::kFloat32,
                               {.x = mlp,
                                .ldx = 2 * I,
                                .w = blk.mlp_l3,
                                .y = x + row0 * H,
                                .ldy = H,
                                .rows = rows,
                                .in = I,
                                .out = H,
                                .beta = 1.f}));
    }
  }
  // logits [L, V] = RMSNorm_final(x)·Eᵀ, chunk by chunk (§5): to the host, or reduced on the
  // device to the targets' log-probs [L] by the forward's fused log-softmax + gather.
  RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(weights_.final_norm),
                                            z, L, H, cfg.eps, st));
  RunRequest head;
  head.batch = 1;
  head.seq = L;
  ChunkedHeadOperands ops{.z = z,
                          .weight = weights_.embedding,
                          .operand = act,
                          .batch = 1,
                          .seq = L,
                          .hidden = H,
                          .vocab = V,
                          .logits = ws.logits.as<float>()};
  if (targets.empty()) {
    head.logits_host = out;
  } else {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ws.targets.as<int32_t>(), targets.data(),
                                         L * sizeof(int32_t), cudaMemcpyHostToDevice, st));
    head.targets_host = targets.data();  // asks RunChunkedHead for log-probs (read on the device)
    head.log_probs_host = out;
    ops.targets = ws.targets.as<int32_t>();
    ops.log_probs = ws.log_probs.as<float>();
  }
  return RunChunkedHead(ops, head, gemm, st);
}

template <typename T>
absl::Status CudaDecoder::HyenaMixerExtend(const DeviceBlockWeights& blk,
                                           const CudaBlockState& state, int64_t slot, int64_t pos,
                                           int64_t L) {
  const int64_t H = config_.hidden_size, W = 3 * H, halo = extend_halo_;
  cudaStream_t st = stream_;
  Workspace& ws = model_.workspace();
  // Rows r of big, q, a, o stand for position pos − halo + r; the suffix is rows [halo, halo + L).
  T* big = ws.big.as<T>();  // [halo + L, 3H]
  T* q = ws.q.as<T>();      // [halo + L, H]
  T* a = ws.a.as<T>();      // [halo + L, H]
  T* o = ws.o.as<T>();      // [halo + L, H]
  // Featurizer over rows [halo − 2, halo + L): the 2 cached projection rows, then the suffix's.
  T* proj_tail = state.proj_tail.as<T>() + slot * 2 * W;  // ring [2, 3H]
  const int64_t f0 = halo - 2;
  RETURN_IF_ERROR(kernels::LaunchRingToRows<T>(proj_tail, 2, W, pos, big + f0 * W, W, st));
  RETURN_IF_ERROR(kernels::LaunchHyenaFeaturizer<T>(big + f0 * W, blk.short_taps, q + f0 * H,
                                                    a + f0 * H, 1, 2 + L, H, st));
  RETURN_IF_ERROR(
      kernels::LaunchRingFromRowsAt<T>(big + f0 * W, W, 2 + L, W, 2, pos - 2, proj_tail, st));
  if (blk.kind == BlockKind::kHcl) {
    float* modal = state.modal.as<float>() + slot * kernels::kHyenaLongModes * H;  // [16, H]
    float* incoming = modal_in_.as<float>();                                       // [H, 16]
    float* end = modal_end_.as<float>();                                           // [H, 16]
    RETURN_IF_ERROR(kernels::LaunchModalStateChannelMajor(modal, H, incoming, st));
    RETURN_IF_ERROR(kernels::LaunchHyenaLongGate<T>(
        q + halo * H, a + halo * H, blk.log_poles, blk.residues, blk.skip_d, o + halo * H,
        hcl_ws_.get(), hcl_ws_.bytes(), 1, L, H, st, incoming));
    RETURN_IF_ERROR(kernels::LaunchHyenaLongEndState<T>(
        a + halo * H, blk.log_poles, end, hcl_ws_.get(), hcl_ws_.bytes(), 1, L, H, st));
    return kernels::LaunchModalStateAdvance(modal, end, blk.log_poles, L, H, st);
  }
  // FIR over rows [halo − n, halo + L): the n cached k⊙v rows (over the featurizer's two halo
  // rows, which had no history), then the suffix's. q's halo rows only feed dropped outputs;
  // zeroed so that nothing reads unwritten memory.
  const int64_t n = blk.fir_length - 1, r0 = halo - n;
  T* fir_tail = state.fir_tail.as<T>() + slot * n * H;  // ring [n, H]
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(q + r0 * H, 0, static_cast<size_t>(n * H) * sizeof(T), st));
  RETURN_IF_ERROR(kernels::LaunchRingToRows<T>(fir_tail, n, H, pos, a + r0 * H, H, st));
  RETURN_IF_ERROR(kernels::LaunchHyenaFirGate<T>(q + r0 * H, a + r0 * H, blk.fir_taps, blk.skip_d,
                                                 o + r0 * H, 1, n + L, H, blk.fir_groups,
                                                 blk.fir_length, st));
  return kernels::LaunchRingFromRowsAt<T>(a + r0 * H, H, n + L, H, n, pos - n, fir_tail, st);
}

}  // namespace evo2::cuda
