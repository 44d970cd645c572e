// The cuda backend's Decoder (evo2/decoder.h, docs/spec/model.md §12).
//
// Prefill: each prompt runs through CudaModel's parallel forward; its block observer derives
// every block's state on the device from the forward's intermediates while they are still in
// the workspace (cuda/cuda_decode_state.h: featurizer and FIR tails = the last rows, the hcl
// modal state by an fp32 reduction over the prompt, the KV cache = the forward's rotated K, V).
//
// Step: B sequences at once, each at its own position. Embedding, norms, projections, MLP and
// head run as [B, ·] GEMMs (each weight read once per step for the whole batch); the Hyena
// mixers as one fused step kernel per block (kernels/hyena_step.cuh); attention as rotary + KV
// append and a split-K single-query kernel (kernels/decode_attention.cuh). The step is captured
// as a CUDA graph per (B, KV capacity) and replayed; the first step of a new shape runs
// eagerly (it loads the kernels a capture cannot load). EVO2_CUDA_DECODE_GRAPHS=0 runs every
// step eagerly (A/B and debugging). Prefill's prompt loop, Step, Select, the batch bookkeeping,
// the graph cache and the linear-layer dispatch are shared with the other families' decoders
// (cuda/cuda_decoder_step.h, cuda_decoder_batch.h, cuda_decoder_graphs.h, cuda_decoder_linear.h).
// Up to 8 sequences the linear layers run on the weight-streaming kernel of
// kernels/skinny_gemm.cuh, above on cuBLAS; EVO2_CUDA_DECODE_GEMV=0 uses cuBLAS for every B (A/B):
// on an H100 the kernel made a 7B batch-1 step 6.04 ms against cuBLAS's 6.46 (bench/RESULTS.md).
// Those GEMMs are launched as programmatic dependents (kernels/dependent_launch.cuh) so that their
// weight prefetch overlaps the small kernel before them; EVO2_CUDA_DECODE_PDL=0 launches them
// plainly. Each RMSNorm runs as its own kernel before the product that reads it (forming it inside
// the product measured slower, docs/adr/0006). The l1/l2 product applies the MLP gate in its
// epilogue (EVO2_CUDA_DECODE_GATE_EPILOGUE=0: the gate kernel apart). An --fp8 / --full-fp8
// model's few-row products stream the layers' E4M3 copies (weight-only FP8, cuda_decoder_linear.h;
// EVO2_CUDA_DECODE_FP8=0: its bf16 weights).
// With EVO2_CUDA_DECODE_PERSISTENT=1 a batch-1 bf16 step runs instead as one persistent kernel
// per run of blocks between attention blocks (cuda_decoder_program.cc, kernels/decode_program.cuh:
// weights streamed by TMA, grid barriers between ops), the same FP8 copies included.
//
// Extend (cuda_decoder_extend.cc): each sequence's suffix as a parallel forward over its rows,
// seeded from the sequence's slot the way a context-parallel rank is seeded by its predecessor;
// its linears read the bf16 weights, also on FP8 models.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cuda/cuda_decode_state.h"
#include "cuda/cuda_decoder_linear.h"
#include "cuda/cuda_decoder_step.h"
#include "cuda/cuda_model.h"
#include "cuda/run_request.h"
#include "evo2/decoder.h"
#include "kernels/device_buffer.h"
#include "kernels/hyena_step.cuh"

namespace evo2::cuda {

class CudaDecoder final : public CachedStateDecoder<CudaDecodeState> {
 public:
  CudaDecoder(CudaModel& model, DecoderOptions options);

  // Device bytes of the decode state and the step buffers.
  size_t device_bytes() const override;

  absl::StatusOr<std::vector<float>> Extend(
      std::span<const std::vector<int32_t>> suffixes) override;

  // Whether a step of `batch` rows runs as persistent decode-program launches (tests, benchmark),
  // and why not where the device or the shape rules it out (empty otherwise).
  bool uses_program(int64_t batch) const { return UseProgram(batch); }
  const std::string& program_error() const { return program_error_; }
  // The log-probs gathered on the device by the forward's fused log-softmax (chunked_head.h).
  absl::StatusOr<std::vector<float>> ExtendLogProbs(
      std::span<const std::vector<int32_t>> suffixes,
      std::span<const std::vector<int32_t>> targets) override;

 private:
  // Extend, or ExtendLogProbs when `targets` is not empty.
  absl::StatusOr<std::vector<float>> RunExtend(std::span<const std::vector<int32_t>> suffixes,
                                               std::span<const std::vector<int32_t>> targets);
  // Extend of sequence `slot` by `suffix`: into `out` (host) its logits [|suffix|, V] fp32, or
  // with `targets` (|suffix| ids or −1) their log-probs [|suffix|] fp32.
  template <typename T>
  absl::Status ExtendRow(int64_t slot, std::span<const int32_t> suffix,
                         std::span<const int32_t> targets, float* out);
  // o rows [halo, halo + L) of the model workspace = block `blk`'s Hyena mixer over the input
  // projections in big rows [halo, halo + L), continuing slot `slot` at position `pos`.
  template <typename T>
  absl::Status HyenaMixerExtend(const DeviceBlockWeights& blk, const CudaBlockState& state,
                                int64_t slot, int64_t pos, int64_t L);

  absl::Status DeriveBlockState(const BlockIntermediates& bi, int64_t slot, int64_t seq);
  template <typename T>
  absl::Status DeriveTyped(const BlockIntermediates& bi, int64_t slot, int64_t seq);
  absl::Status RunPrompt(RunRequest& req, int64_t slot) override;
  absl::Status AllocateStepBuffers(int64_t batch) override;
  absl::Status EnqueueStep(int64_t batch) override;
  template <typename T>
  absl::Status EnqueueStepTyped(int64_t batch);
  // The step's token embedding into x_ and its head from x_ into the batch's logits: the same
  // for the per-op step and the persistent one.
  template <typename T>
  absl::Status EmbedStepTokens(int64_t batch);
  template <typename T>
  absl::Status StepHead(int64_t batch);
  // An attention block's mixer for `batch` rows: rotary + KV append of big_'s Wqkv rows at the
  // batch's positions, then decode attention into o_.
  template <typename T>
  absl::Status AttentionStep(const DeviceBlockWeights& blk, const CudaBlockState& state,
                             int64_t batch);
  // Block `blk`'s Hyena step weights and `state`'s rings (kernels/hyena_step.cuh): what the
  // per-op step and the decode program both pass; the per-op step adds its inputs and shape.
  static kernels::HyenaStepArgs HyenaStepOf(const DeviceBlockWeights& blk,
                                            const CudaBlockState& state);
  // Whether a step of `batch` rows runs as decode-program launches (cuda_decoder_program.cc).
  bool UseProgram(int64_t batch) const;
  absl::Status EnqueueProgramStep();
  template <typename T>
  absl::Status Linear(DType result, const GemmArgs& g, const DeviceFp8Linear* w8 = nullptr) {
    return linear_.Run<T>(result, g, w8);
  }

  CudaModel& model_;
  const ModelConfig& config_;
  const DeviceWeights& weights_;
  // The batch-1 step as persistent decode-program launches: EVO2_CUDA_DECODE_PERSISTENT=1 (off by
  // default: on an H100 it measured 2.6 % faster for the 1B, 5 % slower for the 7B; docs/adr/0006);
  // never where the device lacks the kernel (program_error_ says why).
  bool use_program_ = false;
  std::string program_error_;
  kernels::DeviceBuffer program_barrier_;  // the program's grid-barrier counter (8 bytes)

  // Step buffers (CachedStateDecoder::EnsureStepBuffers sizes them for B rows).
  kernels::DeviceBuffer x_;        // [B, H] fp32 residual stream
  kernels::DeviceBuffer z_;        // [B, H] act norm output
  kernels::DeviceBuffer big_;      // [B, 3H] act input projection / Wqkv output
  kernels::DeviceBuffer o_;        // [B, H] act mixer output
  kernels::DeviceBuffer q_;        // [B, heads, d] act rotated attention query
  kernels::DeviceBuffer mlp_;      // [B, 2I] act
  kernels::DeviceBuffer logits_;   // [B, V] fp32

  // Extend: rows in front of the suffix in the workspace's mixer buffers, for the widest halo
  // (the hcm FIR's K − 1 inputs; at least the featurizer's 2 projection rows).
  int64_t extend_halo_ = 2;
  kernels::DeviceBuffer modal_in_;   // [H, 16] fp32 a slot's modal state, channel-major
  kernels::DeviceBuffer modal_end_;  // [H, 16] fp32 the suffix's zero-state end state
  kernels::DeviceBuffer hcl_ws_;     // fp32 scratch of the hcl gate and end state for L rows
};

}  // namespace evo2::cuda
