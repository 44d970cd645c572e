// The per-batch dict bionemo predict builds (docs/spec/predict-cli.md §1.3), its epoch collation,
// as host arrays that become evo2::Tensor views without copying.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/prediction_writer.h"
#include "evo2/predictor.h"
#include "evo2/tensor.h"
#include "evo2/torch_pt.h"

namespace evo2::predict {

// A dense fp32 or int64 array (only those two dtypes appear in predict's files).
struct HostArray {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<float> f32;    // when dtype == kFloat32
  std::vector<int64_t> i64;  // when dtype == kInt64
  int64_t numel() const;
};

using NamedArrays = std::vector<std::pair<std::string, HostArray>>;  // dict order kept

// The dict of one micro-batch. `batch_tokens` = the batch's padded length S.
absl::StatusOr<NamedArrays> BuildBatchArrays(const std::vector<RecordScore>& scores,
                                             std::span<const int64_t> seq_idx,
                                             int64_t batch_tokens,
                                             const PredictionWriterOptions& options);

// bionemo.llm.lightning.batch_collator: concatenate along dim 0, rank >= 2 arrays first
// right-padded with zeros along dim 1 to the longest batch. Consumes `batches`.
absl::StatusOr<NamedArrays> CollateBatches(std::vector<NamedArrays> batches);

// Moves the arrays into Tensors (no copy).
NamedTensors ToNamedTensors(NamedArrays arrays);

}  // namespace evo2::predict
