#include "io/nemo2_reader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evo2::io {

absl::StatusOr<Checkpoint> LoadNemo2Checkpoint(const std::filesystem::path& dir) {
  return absl::UnimplementedError(absl::StrCat(dir.string(), ": NeMo2 checkpoints are not supported yet"));
}

}  // namespace evo2::io
