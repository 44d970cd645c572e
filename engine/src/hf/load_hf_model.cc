#include "absl/strings/str_cat.h"
#include "hf/hf_families.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Model>> LoadHfModel(const LoadOptions& options) {
  if (options.tensor_parallel_size != 1 || options.context_parallel_size != 1)
    return absl::UnimplementedError(
        "HuggingFace-family checkpoints run on one device (tensor/context parallel size 1)");
  auto ckpt = LoadHfCheckpoint(options.checkpoint);
  if (!ckpt.ok()) return ckpt.status();
  if (ckpt->architecture == "LlamaForCausalLM") return CreateLlamaModel(std::move(*ckpt), options);
  if (ckpt->architecture == "NemotronHForCausalLM")
    return CreateNemotronHModel(std::move(*ckpt), options);
  return absl::UnimplementedError(absl::StrCat(
      (ckpt->dir / "config.json").string(), ": architecture '", ckpt->architecture,
      "' is not supported (LlamaForCausalLM and NemotronHForCausalLM are)"));
}

}  // namespace evo2::hf
