// What every GPU model does around its device pass (evo2/model.h Forward/ForwardBatch): pack
// records of unequal lengths into one right-padded [batch, seq] pass (a causal network cannot
// let padding change the real positions), decide which activations come back, and cut the
// padded outputs into per-record ForwardResults. Host-side only; no CUDA here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/run_request.h"
#include "evo2/config.h"
#include "evo2/model.h"

namespace evo2::cuda {

// Consecutive runs [begin, end) of `sequences` whose padded size count·max_len stays within
// `max_rows` (a record longer than that runs alone).
std::vector<std::pair<size_t, size_t>> GroupByRowBudget(
    std::span<const std::vector<int32_t>> sequences, int64_t max_rows);

// Which residual-stream captures a pass must copy back: ForwardOptions::hidden_after_blocks and
// the layer names a whole-block backend supports (block outputs, the embedding, the final norm).
struct CapturePlan {
  std::map<int, std::string> names_by_block;  // block (-1 = embedding) -> requested name
  std::vector<std::string> final_norm_names;
  std::vector<int> blocks;  // every block index (-1 = embedding) to copy back, ascending
};

// INVALID_ARGUMENT for a block outside [0, layers); UNIMPLEMENTED naming `backend` for a layer
// name inside a block.
absl::StatusOr<CapturePlan> PlanCaptures(const ModelConfig& config, const ForwardOptions& options,
                                         const char* backend);

struct PackedRecords {
  int64_t batch = 0, seq = 0;    // seq = the longest record
  std::vector<int32_t> tokens;   // [batch·seq], padded with the pad id
  std::vector<int32_t> targets;  // [batch·seq], the next token or -1 (no log-prob)
};

// INVALID_ARGUMENT naming the record and position of a token outside [0, vocab).
absl::StatusOr<PackedRecords> PackRecords(std::span<const std::vector<int32_t>> sequences,
                                          int64_t vocab, int32_t pad_id);

// Padded pass outputs, [batch·seq, ...] row-major fp32; empty when not asked for.
struct PassOutputs {
  std::vector<float> log_probs;                // [R]
  std::vector<float> logits;                   // [R, V]
  std::map<int, std::vector<float>> by_block;  // block (-1 = embedding) -> [R, H]
  std::vector<float> final_norm;               // [R, H]
};

// Cuts `out` into one ForwardResult per record (log_probs [len−1], logits [len, V], ...).
std::vector<ForwardResult> UnpackRecords(std::span<const std::vector<int32_t>> sequences,
                                         int64_t seq, int64_t hidden, int64_t vocab,
                                         const ForwardOptions& options, const CapturePlan& plan,
                                         const PassOutputs& out);

// `sequences` through `run` (a model's Run) in padded passes of at most `max_rows` rows
// (GroupByRowBudget): each pass packs its records (pad `pad_id`), asks for what `options` wants
// (log-probs, logits, captures; the head is skipped when nothing after the last block is wanted)
// and unpacks. The GPU models' Forward and ForwardBatch are this call.
using PassRunner = std::function<absl::Status(const RunRequest&)>;
absl::StatusOr<std::vector<ForwardResult>> RunRecords(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, int32_t pad_id, int64_t max_rows, const PassRunner& run);

}  // namespace evo2::cuda
