// The host side every CUDA decoder shares (evo2/decoder.h): each sequence's position, the
// prompt and step checks, the step's inputs (tokens, positions) staged through pinned memory to
// the device, and the step's logits back. The family-specific part (state, step kernels) stays
// in each decoder.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

class DecodeBatch {
 public:
  // Checks every prompt (non-empty, ids in [0, vocab)) and returns the longest length.
  static absl::StatusOr<int64_t> CheckPrompts(std::span<const std::vector<int32_t>> prompts,
                                              int64_t vocab);

  // The batch after a prefill: sequence i has consumed prompts[i].
  void Start(std::span<const std::vector<int32_t>> prompts);
  // Positions for Decoder::Select (rows checked here: OUT_OF_RANGE outside the batch). The
  // decoder gathers its device state before calling Commit.
  absl::Status CheckRows(std::span<const int64_t> rows) const;
  void Commit(std::span<const int64_t> rows);

  // Checks a step's tokens (CheckStepTokens; a cancelled step leaves the batch empty), grows the
  // step's buffers to the batch and copies tokens and positions to the device (`stream`).
  absl::Status BeginStep(std::span<const int32_t> tokens, int64_t vocab,
                         const std::atomic<bool>* cancelled, cudaStream_t stream);
  // Enqueues the copy of the step's logits [B, vocab] fp32 from `logits` (device) to the host.
  absl::Status CopyLogits(const float* logits, cudaStream_t stream);
  // After the stream has finished the step: every position advances, the logits are returned.
  std::vector<float> FinishStep();

  int64_t size() const { return static_cast<int64_t>(positions_.size()); }
  int64_t position(int64_t i) const { return positions_[static_cast<size_t>(i)]; }
  // Sequence i has consumed `tokens` more (Extend).
  void Advance(int64_t i, int64_t tokens) { positions_[static_cast<size_t>(i)] += tokens; }
  // Capacity the next step needs: the largest position + 1.
  int64_t needed_positions() const;
  // Device [B] int32 each: the step's tokens and positions.
  const int32_t* tokens() const { return io_.as<int32_t>(); }
  const int32_t* positions() const { return io_.as<int32_t>() + rows_; }
  // Changes when the device buffers move (tokens(), positions()).
  uint64_t version() const { return version_; }
  size_t device_bytes() const { return io_.bytes(); }

 private:
  struct HostDeleter {
    void operator()(void* p) const;
  };
  absl::Status Ensure(int64_t batch, int64_t vocab);

  std::vector<int64_t> positions_;  // host: tokens each sequence has consumed
  int64_t rows_ = 0, vocab_ = 0;    // buffers hold rows_ sequences
  uint64_t version_ = 0;
  kernels::DeviceBuffer io_;                         // [2·rows] int32: tokens, positions
  std::unique_ptr<int32_t, HostDeleter> io_host_;    // [2·rows] pinned
  std::unique_ptr<float, HostDeleter> logits_host_;  // [rows, vocab] pinned
};

}  // namespace evo2::cuda
