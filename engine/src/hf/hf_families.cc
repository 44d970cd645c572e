#include "hf/hf_families.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {

namespace {

absl::StatusOr<HfCheckpoint> LoadOnOneDevice(const LoadOptions& options) {
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1 ||
      options.devices > 1)
    return absl::UnimplementedError(
        "HuggingFace-family checkpoints run on one device (tensor/context parallel size 1, "
        "--devices 1)");
  return LoadHfCheckpoint(options.checkpoint);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> LoadLlamaModel(const LoadOptions& options) {
  ASSIGN_OR_RETURN(HfCheckpoint ckpt, LoadOnOneDevice(options));
  return CreateLlamaModel(std::move(ckpt), options);
}

absl::StatusOr<std::unique_ptr<Model>> LoadNemotronHModel(const LoadOptions& options) {
  ASSIGN_OR_RETURN(HfCheckpoint ckpt, LoadOnOneDevice(options));
  return CreateNemotronHModel(std::move(ckpt), options);
}

}  // namespace evo2::hf
