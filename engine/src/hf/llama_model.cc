#include "absl/strings/str_cat.h"
#include "hf/hf_families.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Model>> CreateLlamaModel(HfCheckpoint ckpt,
                                                        const LoadOptions& /*options*/) {
  return absl::UnimplementedError(
      absl::StrCat(ckpt.dir.string(), ": LlamaForCausalLM checkpoints are not supported yet"));
}

}  // namespace evo2::hf
