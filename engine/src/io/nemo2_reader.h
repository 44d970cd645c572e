// NeMo2 checkpoint directories (docs/spec/checkpoints.md §4–§9): `weights/.metadata` (pickled
// torch.distributed.checkpoint Metadata) + `weights/__R_N.distcp`, mapped onto vortex names.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"

namespace evo2::io {

// `dir` is the checkpoint root (holding `context/` and `weights/`) or the weights directory
// itself (holding `.metadata`).
// With options.te_fp8_scales, the byte items of the FP8 linears' `_extra_state` are decoded into
// Checkpoint::fp8_scales (under vortex names; tensor-parallel shards must agree).
absl::StatusOr<Checkpoint> LoadNemo2Checkpoint(const std::filesystem::path& dir,
                                               const CheckpointReadOptions& options = {});

}  // namespace evo2::io
