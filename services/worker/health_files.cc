#include "health_files.h"

#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "log_line.h"

namespace evo2::svc {
namespace {

// Rewrites `path` (its mtime is what the probe reads). Write to a temporary name, then rename,
// so a probe never sees a half-written file.
bool WriteFile(const std::filesystem::path& path) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << "1\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

absl::Status HealthFiles::Init() {
  if (dir_.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  std::filesystem::remove(dir_ / "ready", ec);
  if (!WriteFile(dir_ / ".probe")) {
    return absl::FailedPreconditionError(
        absl::StrCat("health directory '", dir_.string(), "' is not writable"));
  }
  std::filesystem::remove(dir_ / ".probe", ec);
  return absl::OkStatus();
}

void HealthFiles::TouchAlive() {
  if (dir_.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!WriteFile(dir_ / "alive")) {
    LogLine() << "evo2-worker: cannot write " << (dir_ / "alive").string();
  }
}

void HealthFiles::SetReady(bool ready) {
  if (dir_.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  const std::filesystem::path path = dir_ / "ready";
  if (ready) {
    if (!std::filesystem::exists(path) && !WriteFile(path)) {
      LogLine() << "evo2-worker: cannot write " << path.string();
    }
  } else {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
}

}  // namespace evo2::svc
