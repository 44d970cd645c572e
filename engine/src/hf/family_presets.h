// `--model-size` presets of the Mamba-2 hybrid and Llama/Eden families (BioNeMo's
// MAMBA_MODEL_OPTIONS and LLAMA_MODEL_OPTIONS; docs/spec/checkpoints.md §13). Each preset is
// written in HuggingFace config.json spelling, so that the families' own config parsers
// (hf/nemotron_h_config.h, hf/llama_config.h) read presets, NeMo2 contexts and config.json files
// alike.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evo2/config.h"

namespace evo2::hf {

struct FamilyPreset {
  ModelFamily family;
  nlohmann::json config;  // HF config.json keys (architectures, hidden_size, ...)
};

// nullopt for names that are not presets of these families (e.g. the Hyena `7b`).
std::optional<FamilyPreset> FindFamilyPreset(std::string_view name);

// hybrid_mamba_8b, 8B, 7B, 11B, 18B, 21B, 24B, 27B, 28B, 35B.
std::vector<std::string> FamilyPresetNames();

}  // namespace evo2::hf
