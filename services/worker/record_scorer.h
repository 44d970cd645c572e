// One record through the engine: JobInput options → evo2::ScoreOptions, RecordScore →
// evo2.v1.RecordResult (tensors as raw little-endian bytes of the requested dtype).
// The only file of the worker that talks to the engine (through evo2/predictor.h).
#pragma once

#include <atomic>
#include <optional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "evo2/predictor.h"
#include "evo2/v1/inputs.pb.h"
#include "evo2/v1/results.pb.h"

namespace evo2::svc {

class RecordScorer {
 public:
  explicit RecordScorer(evo2::Model& model) : model_(model), predictor_(model) {}

  // Scores `record` (input index `index`) with the job's outputs/options in one engine call (one
  // forward computes log-probs, logits and every embedding, whatever their pooling).
  // `cancelled` is handed to the engine, which checks it before and after the forward
  // (→ CANCELLED).
  absl::StatusOr<evo2::v1::RecordResult> Score(const evo2::v1::JobInput& job, int64_t index,
                                               const std::atomic<bool>* cancelled);
  // The model, for generate jobs (record_generator.h).
  evo2::Model& model() { return model_; }
  // The engine's device memory (GPU workers), nullopt on CPU workers.
  std::optional<size_t> device_memory_bytes() const { return model_.device_memory_bytes(); }

 private:
  evo2::Model& model_;
  evo2::Predictor predictor_;
};

// float32 values → bytes of `dtype` (float32 as is; bfloat16 by evo2::FloatToBFloat16).
std::string EncodeTensorData(const std::vector<float>& values, evo2::v1::DType dtype);

}  // namespace evo2::svc
