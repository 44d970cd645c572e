// Which model family a checkpoint holds, from its form and at most its config.json: a
// HuggingFace directory (config.json + *.safetensors) names its class in "architectures";
// anything else (.pt, NeMo2 directory) is Evo 2, and reading it reports what is wrong with it.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "evo2/config.h"

namespace evo2 {

absl::StatusOr<ModelFamily> CheckpointFamily(const std::filesystem::path& checkpoint);

}  // namespace evo2
