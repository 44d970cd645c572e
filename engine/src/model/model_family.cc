#include "model/model_family.h"

#include "hf/hf_families.h"

namespace evo2 {

const char* ModelFamilyName(ModelFamily family) {
  switch (family) {
    case ModelFamily::kHyena:
      return "Evo 2 (StripedHyena)";
    case ModelFamily::kLlama:
      return "Llama";
    case ModelFamily::kNemotronH:
      return "NemotronH";
  }
  return "unknown";
}

absl::StatusOr<ModelFamily> CheckpointFamily(const std::filesystem::path& checkpoint) {
  if (hf::IsHfCheckpoint(checkpoint)) return hf::HfCheckpointFamily(checkpoint);
  return ModelFamily::kHyena;
}

}  // namespace evo2
