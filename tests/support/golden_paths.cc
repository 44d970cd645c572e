#include "support/golden_paths.h"

#include <cstdlib>

namespace evo2::testing {

std::filesystem::path SharedGoldenDir() { return EVO2_SHARED_GOLDEN_DIR; }
std::filesystem::path RepoGoldenDir() { return EVO2_REPO_GOLDEN_DIR; }
std::filesystem::path SourceDir() { return EVO2_SOURCE_DIR; }
std::filesystem::path BinaryDir() { return EVO2_BINARY_DIR; }

bool HaveSharedGolden() { return std::filesystem::is_directory(SharedGoldenDir() / "a_tiny6"); }

std::optional<std::filesystem::path> GoldenCaseDir(const std::string& name) {
  for (const auto& root : {SharedGoldenDir(), RepoGoldenDir()}) {
    if (std::filesystem::is_directory(root / name)) return root / name;
  }
  return std::nullopt;
}

std::optional<std::filesystem::path> GoldenCaseDirFromEnv(const std::string& name) {
  if (const char* env = std::getenv("EVO2_GOLDEN_DIR"); env != nullptr) {
    const std::filesystem::path p = std::filesystem::path(env) / name;
    if (std::filesystem::exists(p / "model.pt")) return p;
    return std::nullopt;
  }
  return GoldenCaseDir(name);
}

}  // namespace evo2::testing
