// Model::Forward / ForwardBatch for the cuda backend's models (every family): checks the
// records, pads them into batches (padding id 1 after each record's end: every mixer is causal,
// docs/spec/model.md §3, so padding cannot change a real position), runs each batch through the
// model's device pass and cuts the results back into per-record ForwardResults (log-probs,
// logits, hidden states after blocks, named layers: block outputs, the embedding, the final norm).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/run_request.h"
#include "evo2/config.h"
#include "evo2/model.h"

namespace evo2::cuda {

// A ForwardBatch call runs its sequences together as long as batch·max_len stays under this many
// rows; larger calls are split into several passes.
inline constexpr int64_t kMaxBatchRows = 262144;

using DevicePass = std::function<absl::Status(const RunRequest&)>;

// Greedy groups of consecutive records under kMaxBatchRows rows, each run through `run`.
absl::StatusOr<std::vector<ForwardResult>> ForwardRecords(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, const DevicePass& run);

}  // namespace evo2::cuda
