#include "absl/strings/str_cat.h"
#include "hf/hf_families.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Model>> CreateNemotronHModel(HfCheckpoint ckpt,
                                                            const LoadOptions& /*options*/) {
  return absl::UnimplementedError(absl::StrCat(
      ckpt.dir.string(), ": NemotronHForCausalLM checkpoints are not supported yet"));
}

}  // namespace evo2::hf
