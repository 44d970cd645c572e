// LoadModel (evo2/model.h): the checkpoint's family, then that family's loader for the
// requested device from the backend registry (evo2/backend_registry.h).
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/backend_registry.h"
#include "evo2/checkpoint.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"

namespace evo2 {

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const LoadOptions& options) {
  // Both lookups read at most config.json, so an unavailable device fails before gigabytes of
  // weights are read.
  ASSIGN_OR_RETURN(CheckpointDescription desc, DescribeCheckpoint(options.checkpoint));
  // A checkpoint without a config of its own takes its family from --model-size (a NeMo2
  // directory without context/ may hold any family); one with a config must agree with it.
  if (options.model_size) {
    ASSIGN_OR_RETURN(const ModelFamily preset_family, PresetFamily(*options.model_size));
    if (!desc.has_config()) {
      desc.family = preset_family;
    } else if (preset_family != desc.family) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--model-size ", *options.model_size, " is a ", ModelFamilyName(preset_family),
          " preset but ", options.checkpoint.string(), " holds a ", ModelFamilyName(desc.family),
          " model (", desc.config->string(), ")"));
    }
  }
  if (options.lora_adapter && desc.family != ModelFamily::kHyena) {
    // The adapters' NeMo names map onto the Hyena layout only (model/lora_adapter.h).
    return absl::UnimplementedError(absl::StrCat("--lora-checkpoint-path: LoRA adapters are merged into Evo 2 (Hyena) ",
                                                 "checkpoints only; ", options.checkpoint.string(), " is a ",
                                                 ModelFamilyName(desc.family), " checkpoint"));
  }
  if (options.fp8 != Fp8Mode::kOff && desc.family != ModelFamily::kHyena) {
    return absl::UnimplementedError(absl::StrCat("--fp8/--full-fp8: FP8 linears are implemented for Evo 2 (Hyena) ",
                                                 "models only; ", options.checkpoint.string(), " is a ",
                                                 ModelFamilyName(desc.family), " checkpoint"));
  }
  ASSIGN_OR_RETURN(const ModelLoader loader, FindModelLoader(desc.family, options.device));
  return loader(options);
}

}  // namespace evo2
