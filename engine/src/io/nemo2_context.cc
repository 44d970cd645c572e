#include "io/nemo2_context.h"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace evo2::io {
namespace {

// The last dotted component of a `_target_` value, or "" when absent.
std::string ClassName(const YAML::Node& map) {
  if (!map || !map.IsMap() || !map["_target_"] || !map["_target_"].IsScalar()) return "";
  std::string target = map["_target_"].as<std::string>();
  if (auto dot = target.rfind('.'); dot != std::string::npos) target = target.substr(dot + 1);
  return target;
}

// Class names as NeMo and BioNeMo spell them: the model classes (HyenaModel, MambaModel,
// LlamaModel) and their config classes (Hyena*Config, NemotronH*Config / SSMConfig /
// HybridMambaConfig8BEvo2Loss, Llama*Config / Eden*Config).
std::optional<ModelFamily> FamilyOfClass(const std::string& name) {
  if (absl::StrContains(name, "Hyena")) return ModelFamily::kHyena;
  if (absl::StrContains(name, "Mamba") || absl::StrContains(name, "NemotronH") ||
      absl::StrContains(name, "SSM")) {
    return ModelFamily::kNemotronH;
  }
  if (absl::StrContains(name, "Llama") || absl::StrContains(name, "Eden"))
    return ModelFamily::kLlama;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<ModelFamily> Nemo2ContextFamily(const std::filesystem::path& model_yaml) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(model_yaml.string());
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_yaml.string(), ": not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) return ModelFamily::kHyena;
  const YAML::Node config = root["config"] && root["config"].IsMap() ? root["config"] : root;
  // A generic model class (e.g. GPTModel) defers to the config class.
  for (const std::string& name : {ClassName(root), ClassName(config)}) {
    if (auto family = FamilyOfClass(name)) return *family;
  }
  if (config["hybrid_override_pattern"] && config["hybrid_override_pattern"].IsScalar()) {
    const std::string pattern = config["hybrid_override_pattern"].as<std::string>();
    if (pattern.find_first_of("M-") != std::string::npos) return ModelFamily::kNemotronH;
    return ModelFamily::kHyena;
  }
  const std::string named = ClassName(config).empty() ? ClassName(root) : ClassName(config);
  if (!named.empty() && (named.find("GPT") != std::string::npos)) {
    return absl::UnimplementedError(absl::StrCat(
        model_yaml.string(), ": model class '", named,
        "' is not one of the families this engine runs (Hyena, Mamba-2 hybrid, Llama/Eden)"));
  }
  return ModelFamily::kHyena;
}

}  // namespace evo2::io
