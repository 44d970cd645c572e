// Where the golden vectors live. The full set is ../shared/golden (CI and dev machines have it);
// a fresh clone only has the subset copied into tests/data/golden.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace evo2::testing {

// Directory of golden case `name` (e.g. "a_tiny6"): the shared full set when present, else the
// repository's subset. nullopt when neither has it.
std::optional<std::filesystem::path> GoldenCaseDir(const std::string& name);

// For tests run where the build tree is absent (the packed GPU test binaries): the case under
// $EVO2_GOLDEN_DIR when that is set (nullopt if it has no model.pt there), else GoldenCaseDir.
std::optional<std::filesystem::path> GoldenCaseDirFromEnv(const std::string& name);

// True when the full shared set is present (tests of the full set skip otherwise).
bool HaveSharedGolden();
std::filesystem::path SharedGoldenDir();
std::filesystem::path RepoGoldenDir();
std::filesystem::path SourceDir();
std::filesystem::path BinaryDir();

}  // namespace evo2::testing
