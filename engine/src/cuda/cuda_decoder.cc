#include "cuda/cuda_decoder.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/embedding.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_state.cuh"
#include "kernels/hyena_step.cuh"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
#include "kernels/skinny_gemm.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {
namespace {

// Captured step graphs kept at once; a generation uses one (B, KV capacity) at a time, a few
// more cover a caller alternating batch sizes.
constexpr size_t kMaxGraphs = 4;

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> CudaModel::NewDecoder(const DecoderOptions& options) {
  return std::unique_ptr<Decoder>(new CudaDecoder(*this, options));
}

void CudaDecoder::HostDeleter::operator()(void* p) const {
  if (p != nullptr) cudaFreeHost(p);
}

CudaDecoder::CudaDecoder(CudaModel& model, DecoderOptions options)
    : model_(model),
      config_(model.config()),
      weights_(model.weights()),
      options_(options),
      state_(model.config(), model.weights()) {
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_GRAPHS"); v != nullptr)
    use_graphs_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_GEMV"); v != nullptr)
    use_skinny_gemm_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_FUSED"); v != nullptr)
    use_fused_ = std::string_view(v) == "1";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_PDL"); v != nullptr)
    use_pdl_ = std::string_view(v) != "0";
}

int64_t CudaDecoder::KvBucket(int64_t tokens) {
  int64_t cap = 256;
  while (cap < tokens) cap *= 2;
  return cap;
}

size_t CudaDecoder::device_bytes() const {
  return state_.bytes() + x_.bytes() + z_.bytes() + big_.bytes() + o_.bytes() + q_.bytes() +
         mlp_.bytes() + logits_.bytes() + io_.bytes() + attn_ws_.bytes();
}

absl::StatusOr<std::vector<float>> CudaDecoder::Prefill(
    std::span<const std::vector<int32_t>> prompts) {
  const int64_t V = config_.vocab_size;
  positions_.clear();
  int64_t max_len = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return absl::InvalidArgumentError(absl::StrCat("Prefill: prompt ", i, " is empty"));
    if (auto st = CheckForwardTokens(prompts[i], V); !st.ok()) return PromptError(i, st);
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(prompts[i].size()));
  }
  const auto n = static_cast<int64_t>(prompts.size());
  RETURN_IF_ERROR(state_.Reset(n, KvBucket(max_len + 1)));
  std::vector<float> logits(static_cast<size_t>(n * V));  // [prompts, V]
  for (int64_t i = 0; i < n; ++i) {
    const auto& prompt = prompts[static_cast<size_t>(i)];
    const auto S = static_cast<int64_t>(prompt.size());
    RunRequest req;
    req.batch = 1;
    req.seq = S;
    req.tokens_host = prompt.data();
    req.cancelled = options_.cancelled;
    req.head_last_rows_only = true;
    req.logits_host = logits.data() + i * V;
    req.block_observer = [&](const BlockIntermediates& bi) { return DeriveBlockState(bi, i, S); };
    if (auto st = model_.Run(req); !st.ok()) return PromptError(static_cast<size_t>(i), st);
  }
  for (const auto& p : prompts) positions_.push_back(static_cast<int64_t>(p.size()));
  return logits;
}

absl::Status CudaDecoder::DeriveBlockState(const BlockIntermediates& bi, int64_t slot,
                                           int64_t seq) {
  return weights_.act_dtype == DType::kFloat32 ? DeriveTyped<float>(bi, slot, seq)
                                               : DeriveTyped<__nv_bfloat16>(bi, slot, seq);
}

template <typename T>
absl::Status CudaDecoder::DeriveTyped(const BlockIntermediates& bi, int64_t slot, int64_t S) {
  const DeviceBlockWeights& w = weights_.blocks[static_cast<size_t>(bi.block)];
  CudaBlockState& st = state_.block(bi.block);
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

absl::Status CudaDecoder::Select(std::span<const int64_t> rows) {
  for (int64_t r : rows) {
    if (r < 0 || r >= batch_size()) {
      return absl::OutOfRangeError(
          absl::StrCat("Select: row ", r, " is outside the batch [0, ", batch_size(), ")"));
    }
  }
  RETURN_IF_ERROR(state_.Gather(rows, model_.stream()));
  std::vector<int64_t> next;
  for (int64_t r : rows) next.push_back(positions_[static_cast<size_t>(r)]);
  positions_ = std::move(next);
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(model_.stream()));
  return absl::OkStatus();
}

absl::Status CudaDecoder::EnsureStepBuffers(int64_t B) {
  const int64_t H = config_.hidden_size, I = config_.inner_mlp_size, V = config_.vocab_size;
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const size_t attn_need = kernels::DecodeAttentionWorkspaceBytes(
      B, config_.num_heads, config_.head_dim, state_.kv_cap());
  if (B > step_rows_) {
    ++buffers_version_;
    const auto b = static_cast<size_t>(B);
    ASSIGN_OR_RETURN(x_, kernels::DeviceBuffer::Allocate(b * H * sizeof(float)));
    ASSIGN_OR_RETURN(z_, kernels::DeviceBuffer::Allocate(b * H * act));
    ASSIGN_OR_RETURN(big_, kernels::DeviceBuffer::Allocate(b * 3 * H * act));
    ASSIGN_OR_RETURN(o_, kernels::DeviceBuffer::Allocate(b * H * act));
    ASSIGN_OR_RETURN(q_, kernels::DeviceBuffer::Allocate(
                             b * static_cast<size_t>(config_.num_heads * config_.head_dim) * act));
    ASSIGN_OR_RETURN(mlp_, kernels::DeviceBuffer::Allocate(b * 2 * I * act));
    ASSIGN_OR_RETURN(logits_, kernels::DeviceBuffer::Allocate(b * V * sizeof(float)));
    ASSIGN_OR_RETURN(io_, kernels::DeviceBuffer::Allocate(b * 2 * sizeof(int32_t)));
    void* host = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMallocHost(&host, b * 2 * sizeof(int32_t)));
    io_host_.reset(static_cast<int32_t*>(host));
    CUDA_RETURN_IF_ERROR(cudaMallocHost(&host, b * V * sizeof(float)));
    logits_host_.reset(static_cast<float*>(host));
    step_rows_ = B;
  }
  if (attn_need > attn_ws_.bytes()) {
    ++buffers_version_;
    ASSIGN_OR_RETURN(attn_ws_, kernels::DeviceBuffer::Allocate(attn_need));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> CudaDecoder::Step(std::span<const int32_t> tokens) {
  const int64_t B = batch_size(), V = config_.vocab_size;
  if (auto st = CheckStepTokens(tokens, B, V, options_.cancelled); !st.ok()) {
    if (st.code() == absl::StatusCode::kCancelled) positions_.clear();
    return st;
  }
  cudaStream_t stream = model_.stream();
  const int64_t needed = *std::max_element(positions_.begin(), positions_.end()) + 1;
  if (needed > state_.kv_cap()) RETURN_IF_ERROR(state_.GrowKv(KvBucket(needed), stream));
  RETURN_IF_ERROR(EnsureStepBuffers(B));
  for (int64_t i = 0; i < B; ++i) {
    io_host_.get()[i] = tokens[static_cast<size_t>(i)];
    io_host_.get()[B + i] = static_cast<int32_t>(positions_[static_cast<size_t>(i)]);
  }
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(io_.get(), io_host_.get(), 2 * B * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, stream));
  const std::pair<uint64_t, uint64_t> version{state_.version(), buffers_version_};
  if (version != graphs_for_) {  // buffers moved: every captured pointer is stale
    graphs_.clear();
    warmed_.clear();
    graphs_for_ = version;
  }
  const std::pair<int64_t, int64_t> key{B, state_.kv_cap()};
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    RETURN_IF_ERROR(it->second.Launch(stream));
    ++graph_steps_;
  } else if (use_graphs_ && warmed_[key]) {
    if (graphs_.size() >= kMaxGraphs) graphs_.erase(graphs_.begin());
    auto graph = CaptureGraph(stream, [&] { return EnqueueStep(B); });
    if (!graph.ok() && use_pdl_) {
      // A driver that captures no programmatic launches: capture plain ones.
      graph_error_ = absl::StrCat("programmatic launches not captured (", graph.status().message(),
                                  "); captured without them");
      use_pdl_ = false;
      graph = CaptureGraph(stream, [&] { return EnqueueStep(B); });
    }
    if (graph.ok()) {
      RETURN_IF_ERROR(graph->Launch(stream));
      graphs_.emplace(key, std::move(*graph));
      ++graph_steps_;
    } else {
      // A step that cannot be captured (a library refusing stream capture) still runs, eagerly;
      // graph_error() says why for the log and the benchmark.
      graph_error_ = std::string(graph.status().message());
      use_graphs_ = false;
      RETURN_IF_ERROR(EnqueueStep(B));
    }
  } else {
    RETURN_IF_ERROR(EnqueueStep(B));
    warmed_[key] = true;
  }
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  for (int64_t& p : positions_) ++p;
  return std::vector<float>(logits_host_.get(), logits_host_.get() + B * V);
}

template <typename T>
absl::Status CudaDecoder::Linear(DType result, const GemmArgs& g) {
  if (use_skinny_gemm_ && g.rows <= kernels::kSkinnyGemmMaxRows) {
    const kernels::SkinnyGemmArgs a{.x = g.x,
                                    .ldx = g.ldx,
                                    .w = g.w,
                                    .y = g.y,
                                    .ldy = g.ldy,
                                    .rows = g.rows,
                                    .in = g.in,
                                    .out = g.out,
                                    .accumulate = g.beta != 0.f,
                                    .programmatic = use_pdl_};
    const absl::Status s = result == DType::kFloat32
                               ? kernels::LaunchSkinnyGemm<T, float>(a, model_.stream())
                               : kernels::LaunchSkinnyGemm<T, T>(a, model_.stream());
    if (s.code() != absl::StatusCode::kUnimplemented) return s;  // else: a shape for cuBLAS
  }
  return model_.gemm().Run(weights_.act_dtype, result, g);
}

template <typename T, typename Out>
absl::Status CudaDecoder::Fused(kernels::SkinnyGemmArgs a) {
  a.programmatic = use_pdl_;
  const absl::Status s = kernels::LaunchSkinnyGemm<T, Out>(a, model_.stream());
  if (s.code() == absl::StatusCode::kUnimplemented)  // FuseStep promised this shape fits
    return absl::InternalError(absl::StrCat("decode step: fused linear refused: ", s.message()));
  return s;
}

bool CudaDecoder::FuseStep(int64_t B) const {
  const size_t act = weights_.act_dtype == DType::kFloat32 ? 4 : 2;
  const auto widest = static_cast<size_t>(std::max(config_.hidden_size, config_.inner_mlp_size));
  const int64_t vec = static_cast<int64_t>(16 / act);
  return use_skinny_gemm_ && use_fused_ && B <= kernels::kSkinnyGemmMaxRows &&
         static_cast<size_t>(B) * widest * act <= kernels::kSkinnyGemmMaxInputBytes &&
         config_.hidden_size % vec == 0 && config_.inner_mlp_size % vec == 0;
}

absl::Status CudaDecoder::EnqueueStep(int64_t B) {
  return weights_.act_dtype == DType::kFloat32 ? EnqueueStepTyped<float>(B)
                                               : EnqueueStepTyped<__nv_bfloat16>(B);
}

template <typename T>
absl::Status CudaDecoder::EnqueueStepTyped(int64_t B) {
  const ModelConfig& cfg = config_;
  const DType act = weights_.act_dtype;
  const int64_t H = cfg.hidden_size, I = cfg.inner_mlp_size, V = cfg.vocab_size;
  const int64_t heads = cfg.num_heads, d = cfg.head_dim, cap = state_.kv_cap();
  cudaStream_t st = model_.stream();
  float* x = x_.as<float>();
  T* z = z_.as<T>();
  T* big = big_.as<T>();
  T* o = o_.as<T>();
  T* mlp = mlp_.as<T>();
  const int32_t* tokens = io_.as<int32_t>();
  const int32_t* positions = io_.as<int32_t>() + B;

  // The forward's operations (cuda_forward.cc, docs/spec/model.md §5-8) on B rows. With
  // `fuse`, each RMSNorm and the MLP gate run inside the GEMM that consumes them
  // (kernels/skinny_gemm.cuh) and the out-projection adds its bias itself: 5 launches per block
  // instead of 8.
  const bool fuse = FuseStep(B);
  using SkinnyInput = kernels::SkinnyInput;
  RETURN_IF_ERROR(kernels::LaunchEmbedding<T>(tokens, static_cast<const T*>(weights_.embedding), z,
                                              B, H, V, st));
  RETURN_IF_ERROR(kernels::LaunchConvert<T, float>(z, x, B * H, st));
  for (int i = 0; i < cfg.num_layers; ++i) {
    const DeviceBlockWeights& blk = weights_.blocks[static_cast<size_t>(i)];
    CudaBlockState& state = state_.block(i);
    // big [B, 3H] = RMSNorm_pre(x)·W_inᵀ
    if (fuse) {
      RETURN_IF_ERROR((Fused<T, T>({.input = SkinnyInput::kRmsNorm, .x = x, .ldx = H,
                                    .norm_scale = blk.pre_norm, .eps = static_cast<float>(cfg.eps),
                                    .w = blk.in_proj, .y = big, .ldy = 3 * H, .rows = B, .in = H,
                                    .out = 3 * H})));
    } else {
      RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, nullptr, static_cast<const T*>(blk.pre_norm), z,
                                                B, H, cfg.eps, st));
      RETURN_IF_ERROR(Linear<T>(act, {.x = z, .ldx = H, .w = blk.in_proj, .y = big, .ldy = 3 * H,
                                      .rows = B, .in = H, .out = 3 * H}));
    }
    // o [B, H] = mixer step
    if (blk.kind == BlockKind::kAttn) {
      T* q = q_.as<T>();
      RETURN_IF_ERROR(kernels::LaunchRotaryKvAppend<T>(
          big, blk.inv_freq, static_cast<float>(cfg.rotary_position_scale), positions, q,
          state.k.as<T>(), state.v.as<T>(), B, heads, d, cap, st));
      RETURN_IF_ERROR(kernels::LaunchDecodeAttention<T>(q, state.k.as<T>(), state.v.as<T>(),
                                                        positions, o, attn_ws_.get(),
                                                        attn_ws_.bytes(), B, heads, d, cap, st));
    } else {
      kernels::HyenaStepArgs a{.proj = big,
                               .short_taps = blk.short_taps,
                               .proj_tail = state.proj_tail.get(),
                               .positions = positions,
                               .out = o,
                               .skip_d = blk.skip_d,
                               .batch = B,
                               .hidden = H};
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
      RETURN_IF_ERROR(kernels::LaunchHyenaStep<T>(a, st));
    }
    const bool gelu = i == 0 && cfg.mlp_activation == MlpActivation::kArc;  // §6
    if (fuse) {
      // x += o·W_outᵀ + b_out;  mlp [B, 2I] = RMSNorm_post(x)·[l1; l2]ᵀ;  x += gate(mlp)·l3ᵀ
      RETURN_IF_ERROR((Fused<T, float>({.x = o, .ldx = H, .w = blk.out_proj, .bias = blk.out_bias,
                                        .y = x, .ldy = H, .rows = B, .in = H, .out = H,
                                        .accumulate = true})));
      RETURN_IF_ERROR((Fused<T, T>({.input = SkinnyInput::kRmsNorm, .x = x, .ldx = H,
                                    .norm_scale = blk.post_norm, .eps = static_cast<float>(cfg.eps),
                                    .w = blk.mlp_l12, .y = mlp, .ldy = 2 * I, .rows = B, .in = H,
                                    .out = 2 * I})));
      RETURN_IF_ERROR((Fused<T, float>({.input = SkinnyInput::kGatedMlp, .x = mlp, .ldx = 2 * I,
                                        .gelu = gelu, .w = blk.mlp_l3, .y = x, .ldy = H,
                                        .rows = B, .in = I, .out = H, .accumulate = true})));
      continue;
    }
    RETURN_IF_ERROR(Linear<T>(DType::kFloat32, {.x = o, .ldx = H, .w = blk.out_proj, .y = x,
                                                .ldy = H, .rows = B, .in = H, .out = H,
                                                .beta = 1.f}));
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(x, static_cast<const T*>(blk.out_bias),
                                              static_cast<const T*>(blk.post_norm), z, B, H,
                                              cfg.eps, st));
    RETURN_IF_ERROR(Linear<T>(act, {.x = z, .ldx = H, .w = blk.mlp_l12, .y = mlp, .ldy = 2 * I,
                                    .rows = B, .in = H, .out = 2 * I}));
    RETURN_IF_ERROR(kernels::LaunchMlpGate<T>(mlp, B, I, gelu, st));
    RETURN_IF_ERROR(Linear<T>(DType::kFloat32, {.x = mlp, .ldx = 2 * I, .w = blk.mlp_l3, .y = x,
                                                .ldy = H, .rows = B, .in = I, .out = H,
                                                .beta = 1.f}));
  }
  // logits [B, V] = RMSNorm_final(x)·Eᵀ
  if (fuse) {
    RETURN_IF_ERROR((Fused<T, float>({.input = SkinnyInput::kRmsNorm, .x = x, .ldx = H,
                                      .norm_scale = weights_.final_norm,
                                      .eps = static_cast<float>(cfg.eps), .w = weights_.embedding,
                                      .y = logits_.get(), .ldy = V, .rows = B, .in = H,
                                      .out = V})));
  } else {
    RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(
        x, nullptr, static_cast<const T*>(weights_.final_norm), z, B, H, cfg.eps, st));
    RETURN_IF_ERROR(Linear<T>(DType::kFloat32, {.x = z, .ldx = H, .w = weights_.embedding,
                                                .y = logits_.get(), .ldy = V, .rows = B, .in = H,
                                                .out = V}));
  }
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits_host_.get(), logits_.get(), B * V * sizeof(float),
                                       cudaMemcpyDeviceToHost, st));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
