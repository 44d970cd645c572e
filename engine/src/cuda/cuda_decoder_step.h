// The Prefill, Step and Select every CUDA cached-state decoder (Evo 2, Llama, NemotronH) runs
// (evo2/decoder.h, docs/spec/model.md §12), written once around the family's hooks:
//
//   Prefill  each prompt through the family's parallel forward (RunPrompt derives the state of
//            its slot from the forward's intermediates), the head on the last row only.
//   Step     BeginStep → grow the KV capacity to the next bucket → step buffers for B rows →
//            the step (EnqueueStep) eagerly or as a CUDA graph per (B, KV capacity)
//            (cuda/cuda_decoder_graphs.h, docs/adr/0006) → sync → FinishStep.
//   Select   gather the state rows, commit the positions, sync.
//
// `State` is the family's slot state (cuda/cuda_decoder_slots.h, or cuda/cuda_decode_state.h
// around it): Reset, GrowKv, Gather, kv_cap, version, bytes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cuda/cuda_decoder_batch.h"
#include "cuda/cuda_decoder_graphs.h"
#include "cuda/cuda_decoder_linear.h"
#include "cuda/cuda_decoder_slots.h"
#include "cuda/cuda_step_decoder.h"
#include "cuda/run_request.h"
#include "evo2/decoder.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_attention.cuh"
#include "kernels/device_buffer.h"
#include "model/decoder_util.h"

namespace evo2::cuda {

// What the shared part needs to know of a family: its vocabulary and the query heads and head
// dim its decode-attention kernel runs with (they size the attention workspace).
struct DecodeStepShape {
  int64_t vocab = 0;
  int64_t attn_heads = 0;
  int64_t attn_head_dim = 0;
};

template <typename State>
class CachedStateDecoder : public CudaStepDecoder {
 public:
  absl::StatusOr<std::vector<float>> Prefill(std::span<const std::vector<int32_t>> prompts) final {
    const int64_t V = shape_.vocab;
    batch_.Start({});
    ASSIGN_OR_RETURN(const int64_t max_len, DecodeBatch::CheckPrompts(prompts, V));
    const auto n = static_cast<int64_t>(prompts.size());
    RETURN_IF_ERROR(state_.Reset(n, KvBucket(max_len + 1)));
    std::vector<float> logits(static_cast<size_t>(n * V));  // [prompts, V]
    for (int64_t i = 0; i < n; ++i) {
      const auto& prompt = prompts[static_cast<size_t>(i)];
      RunRequest req;
      req.batch = 1;
      req.seq = static_cast<int64_t>(prompt.size());
      req.tokens_host = prompt.data();
      req.cancelled = options_.cancelled;
      req.head_last_rows_only = true;
      req.logits_host = logits.data() + i * V;
      if (auto st = RunPrompt(req, i); !st.ok()) return PromptError(static_cast<size_t>(i), st);
    }
    batch_.Start(prompts);
    return logits;
  }

  absl::StatusOr<std::vector<float>> Step(std::span<const int32_t> tokens) final {
    const int64_t B = batch_.size();
    RETURN_IF_ERROR(batch_.BeginStep(tokens, shape_.vocab, options_.cancelled, stream_));
    const int64_t needed = batch_.needed_positions();
    if (needed > state_.kv_cap()) RETURN_IF_ERROR(state_.GrowKv(KvBucket(needed), stream_));
    RETURN_IF_ERROR(EnsureStepBuffers(B));
    // Every buffer the step's graph points into: the state, the step buffers, the batch's inputs.
    const BufferVersions versions{state_.version(), buffers_version_, batch_.version()};
    RETURN_IF_ERROR(graphs_.Run(
        versions, {B, state_.kv_cap()}, stream_, [&] { return EnqueueStep(B); },
        linear_.programmatic()));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return batch_.FinishStep();
  }

  absl::Status Select(std::span<const int64_t> rows) final {
    RETURN_IF_ERROR(batch_.CheckRows(rows));
    RETURN_IF_ERROR(state_.Gather(rows, stream_));
    batch_.Commit(rows);
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return absl::OkStatus();
  }

  int64_t batch_size() const final { return batch_.size(); }
  int64_t position(int64_t i) const final { return batch_.position(i); }
  int64_t vocab_size() const final { return shape_.vocab; }
  // Steps replayed from a captured graph so far (benchmark and tests).
  int64_t graph_steps() const final { return graphs_.replayed(); }
  // Why steps run eagerly although graphs were on (a capture failed), or why they run without
  // programmatic launches; empty otherwise.
  const std::string& graph_error() const final { return graphs_.error(); }

 protected:
  template <typename... StateArgs>
  CachedStateDecoder(GemmRunner& gemm, DType act, cudaStream_t stream, DecoderOptions options,
                     DecodeStepShape shape, StateArgs&&... state_args)
      : state_(std::forward<StateArgs>(state_args)...),
        linear_(gemm, act, stream),
        stream_(stream),
        options_(options),
        shape_(shape) {}

  // Device bytes of the state, the batch's inputs and the attention workspace (the family adds
  // its own step buffers).
  size_t shared_device_bytes() const {
    return state_.bytes() + batch_.device_bytes() + attn_ws_.bytes();
  }

  State state_;
  DecodeBatch batch_;
  DecodeLinear linear_;
  DecodeStepGraphs graphs_;
  cudaStream_t stream_;
  DecoderOptions options_;
  DecodeStepShape shape_;
  kernels::DeviceBuffer attn_ws_;  // decode-attention partials (kernels/decode_attention.cuh)

 private:
  // Sets the family's block observer on `req` (prompt `slot`, req.seq tokens) and runs the
  // forward.
  virtual absl::Status RunPrompt(RunRequest& req, int64_t slot) = 0;
  // (Re)allocates the family's step buffers for `batch` rows.
  virtual absl::Status AllocateStepBuffers(int64_t batch) = 0;
  // The whole step for `batch` sequences, enqueued on the stream (the graph's body).
  virtual absl::Status EnqueueStep(int64_t batch) = 0;

  // Step buffers only grow: for more rows, and the attention workspace for a wider KV cache;
  // either bumps buffers_version_, which drops the captured graphs that point into them.
  absl::Status EnsureStepBuffers(int64_t B) {
    const size_t attn_need = kernels::DecodeAttentionWorkspaceBytes(
        B, shape_.attn_heads, shape_.attn_head_dim, state_.kv_cap());
    if (B > step_rows_) {
      ++buffers_version_;
      RETURN_IF_ERROR(AllocateStepBuffers(B));
      step_rows_ = B;
    }
    if (attn_need > attn_ws_.bytes()) {
      ++buffers_version_;
      ASSIGN_OR_RETURN(attn_ws_, kernels::DeviceBuffer::Allocate(attn_need));
    }
    return absl::OkStatus();
  }

  int64_t step_rows_ = 0;  // the step buffers hold this many sequences
  uint64_t buffers_version_ = 0;
};

}  // namespace evo2::cuda
