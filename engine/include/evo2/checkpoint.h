// Checkpoint loading with automatic format detection.
//
// Formats (detected from the path):
//   1. Arc / vortex `.pt` file: a torch.save zip with a pickled dict name -> tensor
//      (a directory holding exactly one `.pt` plus its `config.yml` is accepted too);
//   2. NeMo2 directory: `context/` + `weights/.metadata` + `weights/__R_N.distcp`
//      (torch.distributed.checkpoint, possibly written by several TP ranks);
//   3. (later) HuggingFace safetensors directories.
// Whatever the format, tensors come back in the engine's naming, which is vortex's
// (`blocks.{i}.projections.weight`, ...; spec evo2-architecture.md §9), with NeMo2 names and
// filter parametrisations mapped (spec bionemo-predict.md §5.7). `*._extra_state` is skipped.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2 {

enum class CheckpointFormat { kVortexPt, kNemo2, kSafetensors };

struct Checkpoint {
  CheckpointFormat format;
  std::filesystem::path path;                    // what was opened
  TensorMap tensors;                             // engine (vortex) names
  std::optional<std::filesystem::path> config_yaml;  // vortex config.yml beside a .pt, if any
  std::optional<std::filesystem::path> nemo_model_yaml;  // NeMo2 context/model.yaml, if any
};

// Loads every model tensor. Errors name the file and, where relevant, the tensor.
absl::StatusOr<Checkpoint> LoadCheckpoint(const std::filesystem::path& path);

// Only detects the format (cheap).
absl::StatusOr<CheckpointFormat> DetectCheckpointFormat(const std::filesystem::path& path);

}  // namespace evo2
