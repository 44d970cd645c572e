// The forward pass on the GPU (docs/spec/model.md §5-8): the sequence of cuBLAS GEMMs and
// kernels per block, on one stream. Shapes: R = batch·seq rows, H hidden, I MLP inner.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "cuda/activations_to_host.h"
#include "cuda/chunked_head.h"
#include "cuda/cuda_model.h"
#include "cuda/gemm.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/embedding.cuh"
#include "kernels/fp8_quantize.cuh"
#include "kernels/hyena_featurizer.cuh"
#include "kernels/hyena_fir.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/random_fill.cuh"
#include "kernels/rms_norm.cuh"
#include "kernels/rotary.cuh"

namespace evo2::cuda {
namespace {

// EVO2_FP8_FUSED=0 turns the fused FP8 quantisation off (the separate pass before each FP8 GEMM);
// on by default. Read per forward, so a benchmark can A/B both in one process.
bool Fp8FusionEnabled() {
  const char* v = std::getenv("EVO2_FP8_FUSED");
  return v == nullptr || std::string_view(v) != "0";
}

}  // namespace

template <typename T>
absl::Status CudaModel::RunTyped(const RunRequest& r) {
  const ModelConfig& cfg = config_;
  const DType act = weights_.act_dtype;
  const int64_t B = r.batch, S = r.seq, R = B * S;
  const int64_t H = cfg.hidden_size, I = cfg.inner_mlp_size, V = cfg.vocab_size;
  cudaStream_t st = stream_;
  Workspace& ws = workspace_;
  float* x = ws.x.as<float>();  // [R, H] fp32 residual stream
  T* z = ws.z.as<T>();      // [R, H] norm output, then attention output
  T* q = ws.q.as<T>();      // [R, H] Hyena q        | attention Q [B, heads, S, d]
  T* a = ws.a.as<T>();      // [R, H] Hyena k⊙v      | attention K
  T* o = ws.o.as<T>();      // [R, H] Hyena gated y  | attention V
  T* big = ws.big.as<T>();  // [R, 3H]
  T* mlp = ws.mlp.as<T>();  // [mlp rows, 2I]
  int32_t* tokens = ws.tokens.as<int32_t>();
  int32_t* targets = ws.targets.as<int32_t>();
  float* lp = ws.log_probs.as<float>();

  if (!r.tokens_on_device) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tokens, r.tokens_host, R * sizeof(int32_t),
                                         cudaMemcpyHostToDevice, st));
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
  // FP8 input rows in a workspace buffer: codes [rows, w8.k] from its start, then inv [rows] fp32
  // at the next 256-byte boundary. Null when the buffer is too small (the caller does not fuse).
  auto fp8_rows = [](kernels::DeviceBuffer& buf, int64_t rows,
                     const DeviceFp8Linear& w8) -> std::optional<kernels::E4M3RowsOut> {
    const size_t codes = (static_cast<size_t>(rows * w8.k) + 255) / 256 * 256;
    if (codes + static_cast<size_t>(rows) * sizeof(float) > buf.bytes()) return std::nullopt;
    return kernels::E4M3RowsOut{.codes = buf.as<uint8_t>(),
                                .ldq = w8.k,
                                .inv_scale = reinterpret_cast<float*>(buf.as<uint8_t>() + codes),
                                .fixed_scale = w8.input_scale};
  };
  // The FP8 GEMM on input rows already quantised (`in.codes` row 0 is g's row 0).
  auto fp8_linear = [&](DType result, const GemmArgs& g, const DeviceFp8Linear& w8,
                        const kernels::E4M3RowsOut& in) -> absl::Status {
    return fp8_gemm_->Run(result, {.x = in.codes,
                                   .ldx = in.ldq,
                                   .x_inv = in.inv_scale,
                                   .w = w8.q,
                                   .w_inv = w8.inv_scale,
                                   .y = g.y,
                                   .ldy = g.ldy,
                                   .rows = g.rows,
                                   .k = w8.k,
                                   .out = g.out,
                                   .beta = g.beta});
  };
  // A linear layer: cuBLAS on the act-typed weight, or the FP8 GEMM where the block has an FP8
  // copy (docs/spec/fp8.md). FP8 quantises the input rows into `scratch`, a workspace buffer the
  // forward does not need at that point: o for the input projection (before the mixer writes it),
  // a for the out-projection (the mixer has consumed it), big for the MLP (a mixer-only buffer).
  auto linear = [&](DType result, const GemmArgs& g, const DeviceFp8Linear& w8,
                    kernels::DeviceBuffer& scratch) -> absl::Status {
    if (!w8.present()) return gemm_->Run(act, result, g);
    const std::optional<kernels::E4M3RowsOut> in = fp8_rows(scratch, g.rows, w8);
    if (!in.has_value())
      return absl::InternalError(absl::StrCat("fp8 linear: ", g.rows, " rows x ", w8.k,
                                              " codes do not fit the ", scratch.bytes(), "-byte scratch"));
    RETURN_IF_ERROR(kernels::LaunchQuantizeRowsE4M3<T>(static_cast<const T*>(g.x), g.rows, g.in,
                                                       g.ldx, in->codes, in->ldq, in->inv_scale, st,
                                                       in->fixed_scale));
    return fp8_linear(result, g, w8, *in);
  };
  // Fused quantisation (docs/spec/fp8.md "Where it runs"): where an FP8 linear's input is made by
  // a norm or the MLP gate, that kernel writes the codes and scales itself (bit-identical to the
  // separate pass), saving the pass's read of the act-typed rows and their write. The norms' codes
  // take the place of their output in z (nothing else reads it: the attention output overwrites z,
  // the next norm rewrites it); [R, k] codes + R scales fit [R, H] T except on toy shapes (a few
  // rows of a narrow model), where fp8_rows refuses and the separate pass runs. EVO2_FP8_FUSED=0
  // runs the separate pass (the A/B of bench/RESULTS.md).
  const bool fuse_fp8 = Fp8FusionEnabled();
  // z' = RMSNorm(x (+ bias)) feeding the linear `w8` (its codes in z), or into z when unfused.
  auto norm_for =
      [&](const void* bias, const void* scale,
          const DeviceFp8Linear& w8) -> absl::StatusOr<std::optional<kernels::E4M3RowsOut>> {
    const std::optional<kernels::E4M3RowsOut> codes =
        fuse_fp8 && w8.present() ? fp8_rows(ws.z, R, w8) : std::nullopt;
    if (codes.has_value()) {
      RETURN_IF_ERROR(kernels::LaunchRmsNormE4M3<T>(x, static_cast<const T*>(bias),
                                                    static_cast<const T*>(scale), nullptr, *codes,
                                                    R, H, cfg.eps, st));
    } else {
      RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(
          x, static_cast<const T*>(bias), static_cast<const T*>(scale), z, R, H, cfg.eps, st));
    }
    return codes;
  };
  // Rows row0.. of quantised input rows.
  auto rows_from = [&](const kernels::E4M3RowsOut& in, int64_t row0) {
    kernels::E4M3RowsOut r0 = in;
    r0.codes += row0 * in.ldq;
    r0.inv_scale += row0;
    return r0;
  };
  mark("start");
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(tokens, static_cast<const T*>(weights_.embedding), z,
                                              R, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, R * H, st));
  mark("embedding");
  RETURN_IF_ERROR(capture(-1));
  for (int i = 0; i < cfg.num_layers; ++i) {
    if (r.cancelled != nullptr) {
      if (i >= 2) CUDA_RETURN_IF_ERROR(cudaEventSynchronize(block_done_[i % 2]));
      RETURN_IF_ERROR(CancelledAt(r.cancelled, i, cfg.num_layers));
    }
    const DeviceBlockWeights& blk = weights_.blocks[i];
    // x = u + Mixer(RMSNorm_pre(u))  (§6); the mixer's out bias is added by the next norm.
    ASSIGN_OR_RETURN(const std::optional<kernels::E4M3RowsOut> in_codes,
                     norm_for(nullptr, blk.pre_norm, blk.in_proj_fp8));
    mark("rms_norm");
    const GemmArgs in_args{.x = z,
                           .ldx = H,
                           .w = blk.in_proj,
                           .y = big,
                           .ldy = 3 * H,
                           .rows = R,
                           .in = H,
                           .out = 3 * H};
    RETURN_IF_ERROR(in_codes.has_value() ? fp8_linear(act, in_args, blk.in_proj_fp8, *in_codes)
                                         : linear(act, in_args, blk.in_proj_fp8, ws.o));
    mark(blk.kind == BlockKind::kAttn ? "gemm_wqkv" : "gemm_hyena_in");
    const T* mixed = nullptr;
    if (blk.kind == BlockKind::kAttn) {
      const int64_t heads = cfg.num_heads, d = cfg.head_dim;
      RETURN_IF_ERROR(kernels::LaunchRotaryQkvSplit<T>(
          big, blk.inv_freq, static_cast<float>(cfg.rotary_position_scale), q, a, o, B, S, heads, d,
          st));
      mark("rotary");
      RETURN_IF_ERROR(Attention<T>(q, a, o, z, B, S));
      mark("attention");
      mixed = z;
    } else {
      RETURN_IF_ERROR(kernels::LaunchHyenaFeaturizer<T>(big, blk.short_taps, q, a, B, S, H, st));
      mark("hyena_featurizer");
      if (blk.kind == BlockKind::kHcl) {
        RETURN_IF_ERROR(kernels::LaunchHyenaLongGate<T>(q, a, blk.log_poles, blk.residues,
                                                        blk.skip_d, o, ws.hcl.get(), ws.hcl.bytes(),
                                                        B, S, H, st));
        mark("hyena_long_hcl");
      } else {
        RETURN_IF_ERROR(kernels::LaunchHyenaFirGate<T>(q, a, blk.fir_taps, blk.skip_d, o, B, S, H,
                                                       blk.fir_groups, blk.fir_length, st));
        mark(blk.kind == BlockKind::kHcs ? "hyena_fir_hcs" : "hyena_fir_hcm");
      }
      mixed = o;
    }
    if (r.block_observer) {
      BlockIntermediates bi{.block = i, .kind = blk.kind};
      if (blk.kind == BlockKind::kAttn) {
        bi.k = a;
        bi.v = o;
      } else {
        bi.proj = big;
        bi.a = a;
      }
      RETURN_IF_ERROR(r.block_observer(bi));
    }
    RETURN_IF_ERROR(linear(DType::kFloat32,
                           {.x = mixed, .ldx = H, .w = blk.out_proj, .y = x, .ldy = H, .rows = R, .in = H, .out = H,
                            .beta = 1.f},
                           blk.out_proj_fp8, ws.a));
    mark("gemm_out");
    // x = x + MLP(RMSNorm_post(x)), in row chunks so [rows, 2I] stays bounded.
    ASSIGN_OR_RETURN(const std::optional<kernels::E4M3RowsOut> l12_codes,
                     norm_for(blk.out_bias, blk.post_norm, blk.mlp_l12_fp8));
    mark("rms_norm");
    const bool gelu = i == 0 && cfg.mlp_activation == MlpActivation::kArc;  // §6
    for (int64_t row0 = 0; row0 < R; row0 += kMlpChunkRows) {
      const int64_t rows = std::min(kMlpChunkRows, R - row0);
      const GemmArgs l12_args{.x = z + row0 * H,
                              .ldx = H,
                              .w = blk.mlp_l12,
                              .y = mlp,
                              .ldy = 2 * I,
                              .rows = rows,
                              .in = H,
                              .out = 2 * I};
      RETURN_IF_ERROR(l12_codes.has_value()
                          ? fp8_linear(act, l12_args, blk.mlp_l12_fp8, rows_from(*l12_codes, row0))
                          : linear(act, l12_args, blk.mlp_l12_fp8, ws.big));
      mark("gemm_mlp_l12");
      const GemmArgs l3_args{.x = mlp,
                             .ldx = 2 * I,
                             .w = blk.mlp_l3,
                             .y = x + row0 * H,
                             .ldy = H,
                             .rows = rows,
                             .in = I,
                             .out = H,
                             .beta = 1.f};
      // l3's codes in big (a mixer-only buffer; the l12 codes are in z).
      const std::optional<kernels::E4M3RowsOut> l3_codes =
          fuse_fp8 && blk.mlp_l3_fp8.present() ? fp8_rows(ws.big, rows, blk.mlp_l3_fp8)
                                               : std::nullopt;
      if (l3_codes.has_value()) {
        RETURN_IF_ERROR(kernels::LaunchMlpGateE4M3<T>(mlp, rows, I, gelu, *l3_codes, st));
        mark("mlp_gate");
        RETURN_IF_ERROR(fp8_linear(DType::kFloat32, l3_args, blk.mlp_l3_fp8, *l3_codes));
      } else {
        RETURN_IF_ERROR(kernels::LaunchMlpGate<T>(mlp, rows, I, gelu, st));
        mark("mlp_gate");
        RETURN_IF_ERROR(linear(DType::kFloat32, l3_args, blk.mlp_l3_fp8, ws.big));
      }
      mark("gemm_mlp_l3");
    }
    RETURN_IF_ERROR(capture(i));
    if (r.cancelled != nullptr) CUDA_RETURN_IF_ERROR(cudaEventRecord(block_done_[i % 2], st));
  }
  if (r.skip_head) return absl::OkStatus();

  // logits = RMSNorm_final(x)·Eᵀ (§5), chunk by chunk; log-probs gathered per chunk so the
  // [R, 512] logits never exist at once.
  RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(weights_.final_norm),
                                            z, R, H, cfg.eps, st));
  mark("rms_norm");
  if (r.final_norm_host != nullptr)
    RETURN_IF_ERROR(CopyActivationsToHost<T>(z, R * H, r.final_norm_host, st));
  return RunChunkedHead({.z = z,
                         .weight = weights_.embedding,
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
absl::Status CudaModel::Attention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                  int64_t seq) {
  const int64_t heads = config_.num_heads, d = config_.head_dim;
#if EVO2_HAVE_CUDNN
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    // A plan exists only where Reserve's policy chose cuDNN (and cuDNN accepted the shape).
    if (cudnn_attention_ != nullptr &&
        cudnn_attention_->FindPlan(batch, heads, seq, d) != nullptr) {
      const absl::Status s = cudnn_attention_->Run(q, k, v, out, batch, heads, seq, d);
      if (s.code() != absl::StatusCode::kUnimplemented) return s;
      cudnn_policy_->MarkRefused(batch, seq);  // the own kernel computes the same function
    }
  }
#endif
  return kernels::LaunchCausalAttention<T>(q, k, v, out, batch, heads, seq, d, stream_,
                                           attention_variant_);
}

absl::Status CudaModel::TuneGemms(int64_t rows) {
  const DType act = weights_.act_dtype;
  if (act != DType::kBFloat16 || config_.num_layers == 0) return absl::OkStatus();
  const int64_t H = config_.hidden_size, I = config_.inner_mlp_size, V = config_.vocab_size;
  const DeviceBlockWeights& blk = weights_.blocks[0];  // every block has these shapes
  Workspace& ws = workspace_;
  // The forward's GEMMs (RunTyped), with the row counts it uses: all rows for the projections,
  // full and last chunks for the MLP and the head.
  std::vector<std::pair<DType, GemmArgs>> shapes;
  auto chunks = [&](int64_t chunk, auto&& add) {
    add(std::min(chunk, rows));
    if (rows > chunk && rows % chunk != 0) add(rows % chunk);
  };
  shapes.push_back({act, {.x = ws.z.get(), .ldx = H, .w = blk.in_proj, .y = ws.big.get(),
                          .ldy = 3 * H, .rows = rows, .in = H, .out = 3 * H}});
  shapes.push_back({DType::kFloat32, {.x = ws.o.get(), .ldx = H, .w = blk.out_proj, .y = ws.x.get(),
                                      .ldy = H, .rows = rows, .in = H, .out = H, .beta = 1.f}});
  chunks(kMlpChunkRows, [&](int64_t n) {
    shapes.push_back({act, {.x = ws.z.get(), .ldx = H, .w = blk.mlp_l12, .y = ws.mlp.get(),
                            .ldy = 2 * I, .rows = n, .in = H, .out = 2 * I}});
    shapes.push_back({DType::kFloat32, {.x = ws.mlp.get(), .ldx = 2 * I, .w = blk.mlp_l3,
                                        .y = ws.x.get(), .ldy = H, .rows = n, .in = I, .out = H,
                                        .beta = 1.f}});
  });
  chunks(kHeadChunkRows, [&](int64_t n) {
    shapes.push_back({DType::kFloat32, {.x = ws.z.get(), .ldx = H, .w = weights_.embedding,
                                        .y = ws.logits.get(), .ldy = V, .rows = n, .in = H,
                                        .out = V}});
  });
  bool filled = false;
  for (const auto& [result, args] : shapes) {
    if (gemm_->Tuned(act, result, args)) continue;
    if (!filled) {
      // Random operands: timing on zeros (fresh memory) flatters the tensor cores
      // (zeros draw less power, so the card clocks higher). The forward overwrites all of it.
      using BF16 = __nv_bfloat16;
      RETURN_IF_ERROR(
          kernels::LaunchFillUniform<BF16>(ws.z.as<BF16>(), rows * H, -1.f, 1.f, 1, stream_));
      RETURN_IF_ERROR(
          kernels::LaunchFillUniform<BF16>(ws.o.as<BF16>(), rows * H, -1.f, 1.f, 2, stream_));
      RETURN_IF_ERROR(kernels::LaunchFillUniform<BF16>(
          ws.mlp.as<BF16>(), static_cast<int64_t>(ws.mlp.bytes() / sizeof(BF16)), -1.f, 1.f, 3,
          stream_));
      RETURN_IF_ERROR(
          kernels::LaunchFillUniform<float>(ws.x.as<float>(), rows * H, -1.f, 1.f, 4, stream_));
      filled = true;
    }
    RETURN_IF_ERROR(gemm_->Tune(act, result, args));
  }
  return absl::OkStatus();
}

template absl::Status CudaModel::RunTyped<float>(const RunRequest&);
template absl::Status CudaModel::RunTyped<__nv_bfloat16>(const RunRequest&);

}  // namespace evo2::cuda
