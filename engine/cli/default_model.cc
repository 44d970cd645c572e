#include "default_model.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace evo2::cli {
namespace {

std::filesystem::path ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

}  // namespace

absl::StatusOr<std::filesystem::path> DefaultModelDir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("EVO2_DEFAULT_MODEL"); env != nullptr && *env != '\0') {
    // An explicit setting is the only candidate: silently falling back would hide a typo.
    candidates.push_back(env);
  } else {
    if (auto dir = ExecutableDir(); !dir.empty()) {
      candidates.push_back(dir / ".." / "share" / "evo2" / "models" / "evo2-demo");
    }
    candidates.push_back(std::filesystem::path(EVO2_SOURCE_MODELS_DIR) / "evo2-demo");
  }
  std::vector<std::string> looked;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(c, ec)) return std::filesystem::weakly_canonical(c, ec);
    looked.push_back(c.string());
  }
  return absl::NotFoundError(absl::StrCat(
      "no --ckpt-dir given and the default demo model was not found (looked in: ",
      absl::StrJoin(looked, ", "), "); pass --ckpt-dir or set EVO2_DEFAULT_MODEL"));
}

}  // namespace evo2::cli
