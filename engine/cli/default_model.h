// Where `evo2 predict` finds a model when --ckpt-dir is not given: the small demo model
// trained on real DNA that ships in the repository (models/evo2-demo, docs/demo-model.md).
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"

namespace evo2::cli {

// In order: $EVO2_DEFAULT_MODEL; <dir of the executable>/../share/evo2/models/evo2-demo (an
// installed tree, e.g. the Docker images); the source tree's models/evo2-demo. Fails, listing
// the places looked at, when none exists.
absl::StatusOr<std::filesystem::path> DefaultModelDir();

}  // namespace evo2::cli
