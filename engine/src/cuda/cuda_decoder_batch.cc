#include "cuda/cuda_decoder_batch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "model/decoder_util.h"

namespace evo2::cuda {

void DecodeBatch::HostDeleter::operator()(void* p) const {
  if (p != nullptr) cudaFreeHost(p);
}

absl::StatusOr<int64_t> DecodeBatch::CheckPrompts(std::span<const std::vector<int32_t>> prompts,
                                                  int64_t vocab) {
  int64_t max_len = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return absl::InvalidArgumentError(absl::StrCat("Prefill: prompt ", i, " is empty"));
    if (auto st = CheckForwardTokens(prompts[i], vocab); !st.ok()) return PromptError(i, st);
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(prompts[i].size()));
  }
  return max_len;
}

void DecodeBatch::Start(std::span<const std::vector<int32_t>> prompts) {
  positions_.clear();
  for (const auto& p : prompts) positions_.push_back(static_cast<int64_t>(p.size()));
}

absl::Status DecodeBatch::CheckRows(std::span<const int64_t> rows) const {
  for (int64_t r : rows) {
    if (r < 0 || r >= size()) {
      return absl::OutOfRangeError(
          absl::StrCat("Select: row ", r, " is outside the batch [0, ", size(), ")"));
    }
  }
  return absl::OkStatus();
}

void DecodeBatch::Commit(std::span<const int64_t> rows) {
  std::vector<int64_t> next;
  next.reserve(rows.size());
  for (int64_t r : rows) next.push_back(positions_[static_cast<size_t>(r)]);
  positions_ = std::move(next);
}

int64_t DecodeBatch::needed_positions() const {
  return positions_.empty() ? 0 : *std::max_element(positions_.begin(), positions_.end()) + 1;
}

absl::Status DecodeBatch::Ensure(int64_t B, int64_t vocab) {
  if (B <= rows_ && vocab == vocab_) return absl::OkStatus();
  ++version_;
  const auto b = static_cast<size_t>(B);
  ASSIGN_OR_RETURN(io_, kernels::DeviceBuffer::Allocate(b * 2 * sizeof(int32_t)));
  void* host = nullptr;
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&host, b * 2 * sizeof(int32_t)));
  io_host_.reset(static_cast<int32_t*>(host));
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&host, b * static_cast<size_t>(vocab) * sizeof(float)));
  logits_host_.reset(static_cast<float*>(host));
  rows_ = B;
  vocab_ = vocab;
  return absl::OkStatus();
}

absl::Status DecodeBatch::BeginStep(std::span<const int32_t> tokens, int64_t vocab,
                                    const std::atomic<bool>* cancelled, cudaStream_t stream) {
  const int64_t B = size();
  if (auto st = CheckStepTokens(tokens, B, vocab, cancelled); !st.ok()) {
    if (st.code() == absl::StatusCode::kCancelled) positions_.clear();
    return st;
  }
  RETURN_IF_ERROR(Ensure(B, vocab));
  // Tokens in [0, B), positions in [rows_, rows_ + B): positions() is fixed per buffer, so a
  // captured graph of a smaller batch reads the right slots.
  for (int64_t i = 0; i < B; ++i) {
    io_host_.get()[i] = tokens[static_cast<size_t>(i)];
    io_host_.get()[rows_ + i] = static_cast<int32_t>(positions_[static_cast<size_t>(i)]);
  }
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(io_.get(), io_host_.get(), 2 * rows_ * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, stream));
  return absl::OkStatus();
}

absl::Status DecodeBatch::CopyLogits(const float* logits, cudaStream_t stream) {
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits_host_.get(), logits,
                                       static_cast<size_t>(size() * vocab_) * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream));
  return absl::OkStatus();
}

std::vector<float> DecodeBatch::FinishStep() {
  for (int64_t& p : positions_) ++p;
  return std::vector<float>(logits_host_.get(), logits_host_.get() + size() * vocab_);
}

}  // namespace evo2::cuda
