#include "cuda/engine_group/cuda_rank.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cuda/communicator_stream_wait.h"
#include "cuda/engine_group/device_halo.h"
#include "cuda/engine_group/kv_gather_attention.h"
#include "cuda/workspace.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "kernels/attention.cuh"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/device_buffer.h"
#include "kernels/embedding.cuh"
#include "kernels/fp8_quantize.cuh"
#include "kernels/fp8_split_amax.cuh"
#include "kernels/hyena_featurizer.cuh"
#include "kernels/hyena_fir.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"
#include "kernels/log_sum_exp_gather.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
#include "kernels/rotary.cuh"
#include "parallel/sequence_split.h"

namespace evo2::cuda {
namespace {

constexpr int32_t kPadId = 1;  // after the record's end; every mixer is causal (model.md §3)

}  // namespace

CudaRank::~CudaRank() {
  gemm_.reset();  // its handles are bound to the stream
  fp8_gemm_.reset();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<CudaRank>> CudaRank::Create(int device, int tp_rank, int cp_rank,
                                                           const DeviceWeights* weights) {
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  std::unique_ptr<CudaRank> r(new CudaRank(device, tp_rank, cp_rank, weights));
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&r->stream_, cudaStreamNonBlocking));
  ASSIGN_OR_RETURN(r->gemm_, GemmRunner::Create(r->stream_));
  // Heads per K/V gather of the CP attention (rank_buffers.h); tests set it to force small groups.
  if (const char* v = std::getenv("EVO2_CP_KV_HEADS_PER_GATHER"); v != nullptr)
    r->kv_heads_per_gather_ = std::max(0, std::atoi(v));
  return r;
}

absl::Status CudaRank::Forward(const ModelConfig& config, DeviceCommunicator& tp,
                               DeviceCommunicator& cp, std::span<const int32_t> tokens,
                               const std::atomic<bool>* cancelled, const InjectedFailure& failure,
                               const RankOutputs& out) {
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  if (weights_->fp8 != Fp8Mode::kOff && fp8_gemm_ == nullptr) {
    ASSIGN_OR_RETURN(fp8_gemm_, Fp8Gemm::Create(stream_));
  }
  const absl::Status s =
      weights_->act_dtype == DType::kFloat32
          ? ForwardTyped<float>(config, tp, cp, tokens, cancelled, failure, out)
          : ForwardTyped<__nv_bfloat16>(config, tp, cp, tokens, cancelled, failure, out);
  if (!s.ok()) {
    // Nothing of this pass may still run when the caller retries: WaitForStream first (under
    // NCCL it aborts the failed communicators, whose kernels then exit), then the stream drains.
    DeviceCommunicator* comms[] = {&tp, &cp};
    WaitForStream(stream_, comms).IgnoreError();
    cudaStreamSynchronize(stream_);
    return s;
  }
  RETURN_IF_ERROR(tp.Check());
  return cp.Check();
}

RankShape CudaRank::ShapeFor(const ModelConfig& config, const parallel::SequenceSplit& split,
                             int tp) const {
  RankShape shape = MakeRankShape(config, split, tp, DTypeSize(weights_->act_dtype));
  shape.kv_heads_per_gather = kv_heads_per_gather_;
  shape.fp8 = weights_->fp8 != Fp8Mode::kOff;
  return shape;
}

template <typename T>
absl::Status CudaRank::ForwardTyped(const ModelConfig& c, DeviceCommunicator& tp,
                                    DeviceCommunicator& cp, std::span<const int32_t> tokens,
                                    const std::atomic<bool>* cancelled,
                                    const InjectedFailure& failure, const RankOutputs& out) {
  const DType act = weights_->act_dtype;
  const DeviceWeights& w = *weights_;
  const int tps = tp.size(), me = tp.rank() + tps * cp.rank();
  const parallel::SequenceSplit split(static_cast<int64_t>(tokens.size()), cp.size());
  const int64_t S = split.tokens(), L = split.LocalRows(), Lc = split.chunk_tokens();
  const int64_t H = c.hidden_size, Hl = H / tps, Il = c.inner_mlp_size / tps;
  const int64_t V = c.vocab_size, Vl = V / tps, v0 = tp.rank() * Vl;
  const bool cp_split = cp.size() > 1;
  const HaloLayout feat_halo = MakeHaloLayout(Lc, kFeaturizerHalo);
  // The gathered end states are rank-major [CP][2]: chunk k of owner o at its index j is slot 2o +
  // j.
  std::vector<int32_t> slot_of_chunk(static_cast<size_t>(split.num_chunks()));
  for (int r = 0; r < cp.size(); ++r)
    for (size_t j = 0; j < split.ChunksOf(r).size(); ++j)
      slot_of_chunk[static_cast<size_t>(split.ChunksOf(r)[j])] = static_cast<int32_t>(2 * r + j);
  const std::vector<int32_t> my_chunks(split.ChunksOf(cp.rank()).begin(),
                                       split.ChunksOf(cp.rank()).end());
  const RankShape shape = ShapeFor(c, split, tps);
  RETURN_IF_ERROR(buffers_.Ensure(shape));
  RankBuffers& b = buffers_;
  cudaStream_t st = stream_;
  float* x = b.x.as<float>();  // [L, H] fp32
  T* z = b.z.as<T>();          // [L, H]
  T* big = b.big.as<T>();      // [L, 3Hl]
  T* q = b.q.as<T>();          // [L, Hl]
  T* a = b.a.as<T>();          // [L, Hl]
  T* o = b.o.as<T>();          // [L, Hl]
  // CP > 1: the Hyena blocks' halo regions in cp_scratch (rank_buffers.h).
  const HyenaScratchLayout hs = MakeHyenaScratchLayout(shape);
  T* ext_in = b.cp_scratch.as<T>();  // [2, region, 3Hl]
  T* ext_q = ext_in + hs.ext_q;      // [2, region, Hl]
  T* ext_o = ext_in + hs.ext_o;      // [2, region, Hl]

  // Host inputs of the local rows: shard-local ids (foreign tokens → the zero row Vl) and
  // shard-local next-token targets (−1 where the target is another shard's or absent).
  std::vector<int32_t> ids(static_cast<size_t>(L)), targets(static_cast<size_t>(L));
  for (int64_t r = 0; r < L; ++r) {
    const int64_t pos = split.Position(cp.rank(), r);
    const int32_t tok = pos < S ? tokens[static_cast<size_t>(pos)] : kPadId;
    const int32_t next = pos + 1 < S ? tokens[static_cast<size_t>(pos + 1)] : -1;
    const bool own = tok >= v0 && tok < v0 + Vl;
    ids[static_cast<size_t>(r)] = tps == 1 ? tok : static_cast<int32_t>(own ? tok - v0 : Vl);
    targets[static_cast<size_t>(r)] =
        next >= v0 && next < v0 + Vl ? static_cast<int32_t>(next - v0) : -1;
  }
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(b.ids.get(), ids.data(), L * sizeof(int32_t), cudaMemcpyHostToDevice, st));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.targets.get(), targets.data(), L * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, st));

  // Waits for the stream without risking a hang on a collective whose peer never joins
  // (cuda/communicator_stream_wait.h).
  DeviceCommunicator* comms[] = {&tp, &cp};
  auto wait = [&]() { return WaitForStream(st, comms); };
  // Copies local [L, H] rows (fp32 or T) to a host [S, H] array at their natural positions.
  auto scatter_rows = [&](const auto* src, float* dst) -> absl::Status {
    if (dst == nullptr || tp.rank() != 0) return absl::OkStatus();
    using Src = std::remove_cv_t<std::remove_pointer_t<decltype(src)>>;
    RETURN_IF_ERROR(RankBuffers::Grow(b.staging, static_cast<size_t>(L * H) * sizeof(float)));
    RETURN_IF_ERROR(kernels::LaunchConvert<Src, float>(src, b.staging.as<float>(), L * H, st));
    float* staging = b.host.data();  // [L, H] pinned
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging, b.staging.get(), L * H * sizeof(float),
                                         cudaMemcpyDeviceToHost, st));
    RETURN_IF_ERROR(wait());
    for (int64_t r = 0; r < L; ++r) {
      const int64_t pos = split.Position(cp.rank(), r);
      if (pos < S) std::copy_n(staging + r * H, H, dst + pos * H);
    }
    return absl::OkStatus();
  };
  auto capture = [&](int key) -> absl::Status {
    auto it = out.hidden.find(key);
    return it == out.hidden.end() ? absl::OkStatus() : scatter_rows(x, it->second);
  };
  auto all_reduce_x = [&]() -> absl::Status {
    return tps == 1 ? absl::OkStatus() : tp.AllReduceSum(x, L * H, st);
  };
  // β of a row-parallel GEMM into x: TP rank 0 adds to the stream, the others write partials.
  const float beta = tp.rank() == 0 ? 1.f : 0.f;

  // A linear layer: cuBLAS on the act-typed weight, or the FP8 GEMM where the shard has an FP8
  // copy (docs/spec/fp8.md; its weight codes carry the whole tensor's scale, fp8_weights.cc).
  // The input rows are quantised per row (per token) into fp8_rows as one GPU does: a
  // column-parallel linear's input (the norm output z) is the whole row on every TP rank, so its
  // amax is one GPU's; a row-parallel linear's input (the mixer output, the MLP gate) is this
  // rank's block of columns, so its row amaxes are all-gathered over TP and their max (exact)
  // gives the whole row's scale: the codes are one GPU's bit for bit, whatever TP is.
  auto linear = [&](DType result, const GemmArgs& g, const DeviceFp8Linear& w8,
                    bool row_parallel) -> absl::Status {
    if (!w8.present()) return gemm_->Run(act, result, g);
    uint8_t* codes = b.fp8_rows.as<uint8_t>();                                   // [rows, k] E4M3
    float* inv = reinterpret_cast<float*>(codes + Fp8CodesBytes(g.rows, w8.k));  // [rows]
    const T* in = static_cast<const T*>(g.x);
    if (row_parallel && tps > 1 && !(w8.input_scale > 0.0f)) {
      float* amax = b.fp8_amax.as<float>();  // [rows]
      float* amax_all = amax + L;            // [TP, rows]
      RETURN_IF_ERROR(kernels::LaunchRowAmax<T>(in, g.rows, g.in, g.ldx, amax, st));
      RETURN_IF_ERROR(tp.AllGather(amax, amax_all, g.rows * sizeof(float), st));
      RETURN_IF_ERROR(kernels::LaunchQuantizeRowsE4M3WithAmax<T>(in, g.rows, g.in, g.ldx, amax_all,
                                                                 tps, codes, w8.k, inv, st));
    } else {
      RETURN_IF_ERROR(kernels::LaunchQuantizeRowsE4M3<T>(in, g.rows, g.in, g.ldx, codes, w8.k, inv,
                                                         st, w8.input_scale));
    }
    return fp8_gemm_->Run(result, {.x = codes,
                                   .ldx = w8.k,
                                   .x_inv = inv,
                                   .w = w8.q,
                                   .w_inv = w8.inv_scale,
                                   .y = g.y,
                                   .ldy = g.ldy,
                                   .rows = g.rows,
                                   .k = w8.k,
                                   .out = g.out,
                                   .beta = g.beta});
  };

  // 1. Embedding: masked lookup (+ the zero row), fp32 stream, all-reduce over TP (sums of one
  // value and zeros: exact).
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(
      b.ids.as<int32_t>(), static_cast<const T*>(w.embedding), z, L, H, tps == 1 ? V : Vl + 1, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, L * H, st));
  RETURN_IF_ERROR(all_reduce_x());
  RETURN_IF_ERROR(capture(-1));

  // Runs a FIR-like kernel over the rank's chunks with their halos (device_halo.h): `in` [L, width]
  // is exchanged into ext_in; kernel(ext rows, q rows, out rows, seq) writes [halo + Lc] rows to
  // ext_o; the last Lc rows of each chunk land in `dst` [L, out_width].
  auto with_halo = [&](const T* in, int64_t width, const HaloLayout& h, const T* q_local, T* dst,
                       int64_t out_width, auto&& kernel) -> absl::Status {
    T* ext = ext_in;
    RETURN_IF_ERROR(ExchangeHalos(split, cp, in, width * sizeof(T), h, ext, st));
    for (int j = 0; j < split.chunks_per_rank(); ++j) {
      T* ext_j = ext + j * h.region * width + h.front * width;  // [halo + Lc, width]
      T* q_j = ext_q + j * h.region * out_width;                // [halo + Lc, out_width]
      T* o_j = ext_o + j * h.region * out_width;
      if (q_local != nullptr)  // q's halo rows only feed output rows that are dropped
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(q_j + h.halo * out_width, q_local + j * Lc * out_width,
                                             Lc * out_width * sizeof(T), cudaMemcpyDeviceToDevice,
                                             st));
      RETURN_IF_ERROR(kernel(ext_j, q_j, o_j, h.halo + Lc));
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst + j * Lc * out_width, o_j + h.halo * out_width,
                                           Lc * out_width * sizeof(T), cudaMemcpyDeviceToDevice,
                                           st));
    }
    return absl::OkStatus();
  };

  for (int i = 0; i < c.num_layers; ++i) {
    RETURN_IF_ERROR(CancelledAt(cancelled, i, c.num_layers));
    if (failure.rank == me && failure.block == i)
      return absl::InternalError(absl::StrCat("injected failure before block ", i));
    const DeviceBlockWeights& blk = w.blocks[static_cast<size_t>(i)];
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(blk.pre_norm), z, L,
                                              H, c.eps, st));
    // Column-parallel: the rank's channel triples / heads, [L, 3Hl].
    RETURN_IF_ERROR(linear(act,
                           {.x = z,
                            .ldx = H,
                            .w = blk.in_proj,
                            .y = big,
                            .ldy = 3 * Hl,
                            .rows = L,
                            .in = H,
                            .out = 3 * Hl},
                           blk.in_proj_fp8, false));
    const T* mixed = nullptr;  // [L, Hl]
    if (blk.kind == BlockKind::kAttn) {
      const int64_t heads = c.num_heads / tps, d = c.head_dim;
      const float scale = static_cast<float>(c.rotary_position_scale);
      if (!cp_split) {
        RETURN_IF_ERROR(kernels::LaunchRotaryQkvSplit<T>(big, blk.inv_freq, scale, q, a, o, 1, L,
                                                         heads, d, st));
        RETURN_IF_ERROR(kernels::LaunchCausalAttention<T>(q, a, o, z, 1, heads, L, d, st));
      } else {
        // Rotary over the rank's own rows at their absolute positions (Q, K, V [2, heads, Lc, d]:
        // the two zigzag chunks as a batch), then only K and V all-gathered over CP, g heads at a
        // time, and each query chunk against the whole sequence's K/V at its offset
        // (docs/parallelism.md §4): the gather holds [g, P, d] twice, not [P, 3Hl] twice.
        const std::vector<int>& chunks = split.ChunksOf(cp.rank());
        RETURN_IF_ERROR(kernels::LaunchRotaryQkvSplit<T>(big, blk.inv_freq, scale, q, a, o, 2, Lc,
                                                         heads, d, st, chunks[0] * Lc,
                                                         (chunks[1] - chunks[0]) * Lc));
        RETURN_IF_ERROR(AttendOverGatheredKv<T>(split, cp, b.plan().kv, q, a, o, heads, d,
                                                b.cp_scratch.as<T>(), z, st));
      }
      mixed = z;
    } else {
      // Featurizer (3 taps, halo 2 rows of the projections).
      if (!cp_split) {
        RETURN_IF_ERROR(kernels::LaunchHyenaFeaturizer<T>(big, blk.short_taps, q, a, 1, L, Hl, st));
      } else {
        // ext_q receives q, ext_o receives a; their last Lc rows per chunk go to q and a.
        T* ext = ext_in;
        const HaloLayout& h = feat_halo;
        RETURN_IF_ERROR(ExchangeHalos(split, cp, big, 3 * Hl * sizeof(T), h, ext, st));
        for (int j = 0; j < split.chunks_per_rank(); ++j) {
          T* q_j = ext_q + j * h.region * Hl;
          T* a_j = ext_o + j * h.region * Hl;
          RETURN_IF_ERROR(kernels::LaunchHyenaFeaturizer<T>(ext + (j * h.region + h.front) * 3 * Hl,
                                                            blk.short_taps, q_j, a_j, 1,
                                                            h.halo + Lc, Hl, st));
          CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(q + j * Lc * Hl, q_j + h.halo * Hl,
                                               Lc * Hl * sizeof(T), cudaMemcpyDeviceToDevice, st));
          CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(a + j * Lc * Hl, a_j + h.halo * Hl,
                                               Lc * Hl * sizeof(T), cudaMemcpyDeviceToDevice, st));
        }
      }
      if (blk.kind == BlockKind::kHcl) {
        if (!cp_split) {
          RETURN_IF_ERROR(kernels::LaunchHyenaLongGate<T>(q, a, blk.log_poles, blk.residues,
                                                          blk.skip_d, o, b.hcl.get(), b.hcl.bytes(),
                                                          1, L, Hl, st));
        } else {
          // The rank's two chunks from a zero state, their end states all-gathered over CP,
          // the fold to each chunk's true incoming state and the rank-16 correction
          // (docs/parallelism.md §3, kernels/hyena_long_cp.cuh).
          RETURN_IF_ERROR(kernels::LaunchHyenaLongGate<T>(q, a, blk.log_poles, blk.residues,
                                                          blk.skip_d, o, b.hcl.get(), b.hcl.bytes(),
                                                          2, Lc, Hl, st));
          float* end = b.end_state.as<float>();  // [2, Hl, 16]
          RETURN_IF_ERROR(kernels::LaunchHyenaLongEndState<T>(
              a, blk.log_poles, end, b.hcl_end.get(), b.hcl_end.bytes(), 2, Lc, Hl, st));
          RETURN_IF_ERROR(cp.AllGather(end, b.end_states.get(), 2 * Hl * 16 * sizeof(float), st));
          RETURN_IF_ERROR(kernels::LaunchHyenaLongIncomingState(
              b.end_states.as<float>(), slot_of_chunk.data(), split.num_chunks(), my_chunks.data(),
              2, blk.log_poles, Lc, Hl, b.incoming.as<float>(), st));
          RETURN_IF_ERROR(kernels::LaunchHyenaLongStateCorrection<T>(
              q, b.incoming.as<float>(), blk.log_poles, blk.residues, o, 2, Lc, Hl, st));
        }
      } else if (!cp_split) {
        RETURN_IF_ERROR(kernels::LaunchHyenaFirGate<T>(q, a, blk.fir_taps, blk.skip_d, o, 1, L, Hl,
                                                       blk.fir_groups, blk.fir_length, st));
      } else {
        const HaloLayout h = MakeHaloLayout(Lc, blk.fir_length - 1);
        RETURN_IF_ERROR(with_halo(
            a, Hl, h, q, o, Hl, [&](const T* a_ext, const T* q_ext, T* o_ext, int64_t seq) {
              return kernels::LaunchHyenaFirGate<T>(q_ext, a_ext, blk.fir_taps, blk.skip_d, o_ext,
                                                    1, seq, Hl, blk.fir_groups, blk.fir_length, st);
            }));
      }
      mixed = o;
    }
    // Row-parallel out-projection into the stream; the bias is added by the next norm.
    RETURN_IF_ERROR(linear(DType::kFloat32,
                           {.x = mixed,
                            .ldx = Hl,
                            .w = blk.out_proj,
                            .y = x,
                            .ldy = H,
                            .rows = L,
                            .in = Hl,
                            .out = H,
                            .beta = beta},
                           blk.out_proj_fp8, true));
    RETURN_IF_ERROR(all_reduce_x());
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, static_cast<const T*>(blk.out_bias),
                                              static_cast<const T*>(blk.post_norm), z, L, H, c.eps,
                                              st));
    const bool gelu = i == 0 && c.mlp_activation == MlpActivation::kArc;  // §6
    T* mlp = b.mlp.as<T>();                                               // [rows, 2Il]
    for (int64_t row0 = 0; row0 < L; row0 += kMlpChunkRows) {
      const int64_t rows = std::min(kMlpChunkRows, L - row0);
      RETURN_IF_ERROR(linear(act,
                             {.x = z + row0 * H,
                              .ldx = H,
                              .w = blk.mlp_l12,
                              .y = mlp,
                              .ldy = 2 * Il,
                              .rows = rows,
                              .in = H,
                              .out = 2 * Il},
                             blk.mlp_l12_fp8, false));
      RETURN_IF_ERROR(kernels::LaunchMlpGate<T>(mlp, rows, Il, gelu, st));
      RETURN_IF_ERROR(linear(DType::kFloat32,
                             {.x = mlp,
                              .ldx = 2 * Il,
                              .w = blk.mlp_l3,
                              .y = x + row0 * H,
                              .ldy = H,
                              .rows = rows,
                              .in = Il,
                              .out = H,
                              .beta = beta},
                             blk.mlp_l3_fp8, true));
    }
    RETURN_IF_ERROR(all_reduce_x());
    RETURN_IF_ERROR(capture(i));
  }
  if (!out.head) {
    RETURN_IF_ERROR(wait());
    return absl::OkStatus();
  }

  // Head: final norm, the rank's logit columns chunk by chunk, (lse, target logit) per row.
  RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(w.final_norm), z, L,
                                            H, c.eps, st));
  RETURN_IF_ERROR(scatter_rows(z, out.final_norm));
  float* logits = b.logits.as<float>();  // [rows, Vl]
  float* lse = b.lse.as<float>();        // [L, 2]
  float* host_logits = b.host.data();    // [rows, Vl] pinned
  for (int64_t row0 = 0; row0 < L; row0 += kHeadChunkRows) {
    const int64_t rows = std::min(kHeadChunkRows, L - row0);
    RETURN_IF_ERROR(gemm_->Run(act, DType::kFloat32,
                               {.x = z + row0 * H,
                                .ldx = H,
                                .w = w.embedding,
                                .y = logits,
                                .ldy = Vl,
                                .rows = rows,
                                .in = H,
                                .out = Vl}));
    RETURN_IF_ERROR(kernels::LaunchLogSumExpGather(logits, b.targets.as<int32_t>() + row0,
                                                   lse + 2 * row0, rows, Vl, st));
    if (out.logits != nullptr) {
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_logits, logits, rows * Vl * sizeof(float),
                                           cudaMemcpyDeviceToHost, st));
      RETURN_IF_ERROR(wait());
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t pos = split.Position(cp.rank(), row0 + r);
        if (pos < S) std::copy_n(host_logits + r * Vl, Vl, out.logits + pos * V + v0);
      }
    }
  }
  // The TP ranks' pairs: [TP, L, 2] (two floats per row, never the logits).
  float* pairs = lse;
  if (tps > 1) {
    RETURN_IF_ERROR(tp.AllGather(lse, b.lse_all.get(), L * 2 * sizeof(float), st));
    pairs = b.lse_all.as<float>();
  }
  const float* host_pairs = b.host.data();  // [TP, L, 2] pinned
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.host.data(), pairs, tps * L * 2 * sizeof(float),
                                       cudaMemcpyDeviceToHost, st));
  RETURN_IF_ERROR(wait());
  if (out.log_probs != nullptr && tp.rank() == 0) {
    for (int64_t r = 0; r < L; ++r) {
      const int64_t pos = split.Position(cp.rank(), r);
      if (pos + 1 >= S) continue;  // the last position has no next token; padding
      double m = -INFINITY, target = 0;
      for (int s = 0; s < tps; ++s) m = std::max(m, double{host_pairs[(s * L + r) * 2]});
      double sum = 0;
      for (int s = 0; s < tps; ++s) {
        sum += std::exp(double{host_pairs[(s * L + r) * 2]} - m);
        target += host_pairs[(s * L + r) * 2 + 1];
      }
      out.log_probs[pos] = static_cast<float>(target - (m + std::log(sum)));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2::cuda
