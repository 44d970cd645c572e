// NeMo2 checkpoint directories (docs/spec/checkpoints.md §4–§9): `weights/.metadata` (pickled
// torch.distributed.checkpoint Metadata) + `weights/__R_N.distcp`, mapped onto vortex names.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"

namespace evo2::io {

// `dir` is the checkpoint root (holding `context/` and `weights/`) or the weights directory
// itself (holding `.metadata`).
absl::StatusOr<Checkpoint> LoadNemo2Checkpoint(const std::filesystem::path& dir);

}  // namespace evo2::io
