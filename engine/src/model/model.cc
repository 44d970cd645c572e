// Model's default batched path and the cancellation check shared by the backends.
//
// Default batched path: each record runs alone, one after the other. On the CPU every
// forward already uses all cores (OpenBLAS + the pool), so running records sequentially costs
// little and gives results bit-identical to Forward (no padding, no cross-record effects).
#include "evo2/model.h"

#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "ops/working_memory.h"

namespace evo2 {

std::optional<int64_t> Model::FreeWorkingMemoryBytes() const {
  if (device_memory_bytes().has_value()) return std::nullopt;  // a device backend overrides this
  const int64_t avail = ops::AvailableMemoryBytes();
  if (avail <= 0) return std::nullopt;
  return avail;
}

absl::Status CancelledAt(const std::atomic<bool>* cancelled, int block, int num_blocks) {
  if (cancelled == nullptr || !cancelled->load(std::memory_order_relaxed)) {
    return absl::OkStatus();
  }
  return absl::CancelledError(
      absl::StrCat("cancelled before block ", block, " of ", num_blocks, " of the forward"));
}

absl::Status CheckForwardTokens(std::span<const int32_t> tokens, int64_t vocab_size) {
  if (tokens.empty()) return absl::InvalidArgumentError("Forward: empty token sequence");
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("Forward: token ", tokens[t], " at position ", t,
                                                     " is outside [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ForwardResult>> Model::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  std::vector<ForwardResult> out;
  out.reserve(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    auto r = Forward(sequences[i], options);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("batch record ", i, ": ", r.status().message()));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Decoder>> Model::NewDecoder(const DecoderOptions&) {
  return absl::UnimplementedError(
      absl::StrCat("the ", backend_name(), " backend of the ", config().name,
                   " model has no cached-state decoder (generation) yet"));
}

}  // namespace evo2
