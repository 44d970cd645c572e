#include "hf/hf_families.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/checkpoint.h"
#include "evo2/status_macros.h"
#include "hf/nemo2_family_checkpoint.h"

namespace evo2::hf {

namespace {

// A HuggingFace directory or a NeMo2 checkpoint of `family`; an explicit --model-size must
// describe the same architecture (without a NeMo2 context it is the architecture).
absl::StatusOr<HfCheckpoint> LoadOnOneDevice(const LoadOptions& options, ModelFamily family) {
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return absl::UnimplementedError(
        "HuggingFace-family checkpoints run on one device (tensor/context parallel size 1, "
        "--devices 1)");
  ASSIGN_OR_RETURN(const CheckpointDescription desc, DescribeCheckpoint(options.checkpoint));
  HfCheckpoint ckpt;
  switch (desc.format) {
    case CheckpointFormat::kNemo2: {
      ASSIGN_OR_RETURN(ckpt, LoadNemo2FamilyCheckpoint(desc.weights, family, options.model_size));
      break;
    }
    case CheckpointFormat::kSafetensors: {
      ASSIGN_OR_RETURN(ckpt, LoadHfCheckpoint(options.checkpoint));
      break;
    }
    case CheckpointFormat::kVortexPt:
      return absl::InvalidArgumentError(absl::StrCat(
          options.checkpoint.string(), " is an Evo 2 vortex .pt checkpoint, not a ",
          ModelFamilyName(family), " one (--model-size ", options.model_size.value_or(""), ")"));
  }
  if (options.model_size) RETURN_IF_ERROR(CheckPresetAgrees(ckpt, family, *options.model_size));
  return ckpt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> LoadLlamaModel(const LoadOptions& options) {
  ASSIGN_OR_RETURN(HfCheckpoint ckpt, LoadOnOneDevice(options, ModelFamily::kLlama));
  return CreateLlamaModel(std::move(ckpt), options);
}

absl::StatusOr<std::unique_ptr<Model>> LoadNemotronHModel(const LoadOptions& options) {
  ASSIGN_OR_RETURN(HfCheckpoint ckpt, LoadOnOneDevice(options, ModelFamily::kNemotronH));
  return CreateNemotronHModel(std::move(ckpt), options);
}

}  // namespace evo2::hf
