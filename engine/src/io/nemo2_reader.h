// NeMo2 checkpoint directories (docs/spec/checkpoints.md §4–§9): `weights/.metadata` (pickled
// torch.distributed.checkpoint Metadata) + `weights/__R_N.distcp`, mapped onto vortex names.
#pragma once

#include <filesystem>
#include <optional>

#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"
#include "evo2/torch_pt.h"
#include "io/dcp_metadata.h"

namespace evo2::io {

// The model tensors of a NeMo2 checkpoint under their stored names, before any family mapping.
struct Nemo2Weights {
  std::filesystem::path dir;                        // as given
  std::filesystem::path weights_dir;                // holding `.metadata`
  std::optional<std::filesystem::path> model_yaml;  // context/model.yaml, when present
  // `module.` stripped (MBridge checkpoints have none); `_extra_state` and optimizer state
  // skipped; TP/PP chunks assembled into global tensors (docs/spec/checkpoints.md §9).
  NamedTensors tensors;
  bool have_module = false;  // the stored names began with `module.`
  DcpMetadata metadata;      // the parsed `.metadata` (its byte items hold TE FP8 state)
};

// `dir` is the checkpoint root or its weights directory, as for LoadNemo2Checkpoint.
absl::StatusOr<Nemo2Weights> ReadNemo2Weights(const std::filesystem::path& dir);

// `dir` is the checkpoint root (holding `context/` and `weights/`) or the weights directory
// itself (holding `.metadata`).
// With options.te_fp8_scales, the byte items of the FP8 linears' `_extra_state` are decoded into
// Checkpoint::fp8_scales (under vortex names; tensor-parallel shards must agree).
absl::StatusOr<Checkpoint> LoadNemo2Checkpoint(const std::filesystem::path& dir,
                                               const CheckpointReadOptions& options = {});

}  // namespace evo2::io
