// Display names of the model families (evo2/config.h).
#include "evo2/config.h"

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

}  // namespace evo2
