// Output files of `evo2 predict`, laid out like bionemo predict's (docs/spec/predict-cli.md §1.3):
//   --write-interval epoch: predictions__rank_{R}__dp_rank_{D}.pt, the micro-batches collated
//   --write-interval batch: predictions__rank_{R}__dp_rank_{D}__batch_{i}.pt (+ `batch_idx`),
//                           optionally spread over subdir_{k}/ (--files-per-subdir)
//   seq_idx_map.json        {"<record name>": <index in sorted names>, ...} as Python json.dump
// Keys per mode:
//   logits (default)        token_logits f32 [B,S,512], pad_mask i64 [B,S], seq_idx i64 [B]
//   sum / mean              log_probs_seqs f32 [B], seq_idx i64 [B]
//   per_token               log_probs_seqs f32 [B,S-1], seq_idx i64 [B], loss_mask i64 [B,S-1]
//   + embeddings (ours)     hidden_embeddings.<layer> f32 [B,S,H] (pooling none) or [B,H];
//                           pad_mask is added for pooling none when the mode lacks it.
// Collation (epoch): batches concatenated along dim 0, tensors of rank >= 2 right-padded with
// zeros along dim 1 to the longest batch. `--output-format safetensors` writes the same tensors
// to predictions__rank_{R}__dp_rank_{D}[__batch_{i}].safetensors; `npy` writes per record
// `<name>.log_probs.npy` (per-token [S-1] or collapsed [1]), `<name>.logits.npy` [S,512],
// `<name>.hidden_embeddings.<layer>.npy`, with `<name>` made filesystem-safe.
//
// Every file is first written into a staging directory inside the output directory and moved
// into place only by Finish(), so a failed or cancelled run never leaves complete-looking files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/predictor.h"

namespace evo2 {

enum class OutputFormat { kPt, kSafetensors, kNpy };
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name);

struct PredictionWriterOptions {
  std::filesystem::path output_dir;
  OutputFormat format = OutputFormat::kPt;
  bool output_log_prob_seqs = false;  // false: logits mode
  LogProbCollapse collapse = LogProbCollapse::kMean;
  bool write_per_batch = false;       // --write-interval batch
  int files_per_subdir = 0;           // 0 = all files in the output directory
  int global_rank = 0;
  int dp_rank = 0;
  std::vector<std::string> embedding_layers;
  EmbeddingPooling pooling = EmbeddingPooling::kMean;
};

// Python's json.dumps of a {str: int} dict in the given order (ensure_ascii, ", " and ": ").
std::string PythonJsonDumpSeqIdxMap(std::span<const std::string> names_in_order);

class PredictionWriter {
 public:
  // Creates the output directory if needed and the staging directory inside it; fails early,
  // naming the directory, when it cannot be written.
  static absl::StatusOr<std::unique_ptr<PredictionWriter>> Create(PredictionWriterOptions options);
  ~PredictionWriter();  // removes the staging directory unless Finish() succeeded

  // One micro-batch in processing order. `batch_tokens` is the batch's padded length
  // (max(longest record, --min-length)); logits in `scores` must cover that many rows.
  absl::Status AddBatch(std::vector<RecordScore> scores, std::span<const int64_t> seq_idx,
                        int64_t batch_tokens);

  // Writes the collated (epoch) file and seq_idx_map.json, then moves every staged file into the
  // output directory. `sorted_names` are all record names in sorted order (index = seq_idx).
  absl::Status Finish(std::span<const std::string> sorted_names);

  // Files moved into place by Finish(), relative to the output directory.
  const std::vector<std::filesystem::path>& written_files() const { return written_; }

 private:
  struct Impl;
  explicit PredictionWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::vector<std::filesystem::path> written_;
};

}  // namespace evo2
