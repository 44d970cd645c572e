// NeMo2 checkpoints of the Mamba-2 hybrid and Llama/Eden families (docs/spec/checkpoints.md
// §13), read into the same HfCheckpoint a HuggingFace directory gives, so that one model
// implementation per family serves both formats: the DCP weights (any TP layout) mapped to HF
// names (hf/nemo2_family_names.h), and the architecture from context/model.yaml
// (hf/nemo2_family_config.h) or, without a context, from the --model-size preset
// (hf/family_presets.h).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "hf/hf_checkpoint.h"

namespace evo2::hf {

// `dir` is the NeMo2 checkpoint root (or its weights directory); `family` is kLlama or
// kNemotronH. Errors name the directory and the NeMo2 key (missing, wrong shape, unused) or the
// config file and key.
absl::StatusOr<HfCheckpoint> LoadNemo2FamilyCheckpoint(
    const std::filesystem::path& dir, ModelFamily family,
    const std::optional<std::string>& model_size);

// OK when --model-size `name` is a preset of `family` describing the architecture of `ckpt`'s
// config; otherwise an error naming the first differing field with both values.
absl::Status CheckPresetAgrees(const HfCheckpoint& ckpt, ModelFamily family,
                               const std::string& name);

}  // namespace evo2::hf
