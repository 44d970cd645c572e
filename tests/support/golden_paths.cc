#include "support/golden_paths.h"

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

}  // namespace evo2::testing
