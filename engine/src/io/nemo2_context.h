// Which model family a NeMo2 checkpoint's `context/model.yaml` describes
// (docs/spec/checkpoints.md §13). NeMo writes the model class as the top-level `_target_`
// (`...hyena.HyenaModel`, `...mamba.MambaModel`, `...llama.LlamaModel`) and the config class
// as `config._target_` (`HyenaTestConfig`, `HybridMambaConfig8BEvo2Loss`, `EdenConfig`, ...).
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "evo2/config.h"

namespace evo2::io {

// Decided by the model class name, then the config class name, then the letters of
// `hybrid_override_pattern` (M/-: NemotronH; S/D/H: Hyena). A file that names none of them is
// taken as Hyena, the format's original family. Errors name the file (unreadable YAML) or the
// class that fits no family.
absl::StatusOr<ModelFamily> Nemo2ContextFamily(const std::filesystem::path& model_yaml);

}  // namespace evo2::io
