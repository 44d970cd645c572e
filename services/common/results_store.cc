#include "results_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "hashing.h"

namespace evo2::svc {
namespace {

namespace fs = std::filesystem;

constexpr char kReferencePrefix[] = {'\0', 's', 't', 'o', 'r', 'e', ':'};

// Path components come from tenants ([A-Za-z0-9_.-], api_keys.h), job ids (hex) and worker ids;
// anything else, and "." / "..", is refused rather than escaped.
bool SafeComponent(const std::string& s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckScope(const std::string& tenant, const std::string& job_id) {
  if (!SafeComponent(tenant) || !SafeComponent(job_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("results store: tenant '", tenant, "' / job '", job_id, "' is not a name"));
  }
  return absl::OkStatus();
}

absl::Status Errno(const std::string& what, const fs::path& p) {
  return absl::UnavailableError(
      absl::StrCat("results store: ", what, " ", p.string(), ": ", std::strerror(errno)));
}

// Writes `bytes` to `path` through a temporary file in the same directory, fsyncs it and renames
// it into place, then fsyncs the directory: after return the file survives a crash whole.
absl::Status WriteAtomically(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".tmp." + RandomHex(4);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const absl::Status s = Errno("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const absl::Status s = Errno("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const absl::Status s = Errno("cannot rename into", path);
    ::unlink(tmp.c_str());
    return s;
  }
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

}  // namespace

bool ResultsStore::IsReference(const std::string& value) {
  return absl::StartsWith(value, absl::string_view(kReferencePrefix, sizeof(kReferencePrefix)));
}

absl::StatusOr<std::string> ResultsStore::Put(const std::string& tenant, const std::string& job_id,
                                              int64_t index, const std::string& writer,
                                              const std::string& bytes) const {
  RETURN_IF_ERROR(CheckScope(tenant, job_id));
  if (!SafeComponent(writer) || index < 0) {
    return absl::InvalidArgumentError(absl::StrCat("results store: bad writer '", writer, "'"));
  }
  const fs::path dir = root_ / tenant / job_id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("results store: cannot create ", dir.string(), ": ", ec.message()));
  }
  const std::string name = absl::StrCat(index, ".", writer, ".pb");
  RETURN_IF_ERROR(WriteAtomically(dir / name, bytes));
  return absl::StrCat(absl::string_view(kReferencePrefix, sizeof(kReferencePrefix)), name);
}

absl::StatusOr<std::string> ResultsStore::Get(const std::string& tenant, const std::string& job_id,
                                              const std::string& reference) const {
  RETURN_IF_ERROR(CheckScope(tenant, job_id));
  if (!IsReference(reference)) {
    return absl::InvalidArgumentError("results store: not a reference");
  }
  const std::string name = reference.substr(sizeof(kReferencePrefix));
  // Only a plain file name inside this tenant's job directory is ever opened.
  if (!SafeComponent(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("results store: reference '", name, "' is not a file of job ", job_id));
  }
  const fs::path path = root_ / tenant / job_id / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("results store: ", path.string(),
                                            " is missing (is the results volume mounted?)"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return Errno("cannot read", path);
  return ss.str();
}

absl::StatusOr<int> ResultsStore::RemoveExpiredJobs(
    absl::Duration grace,
    const std::function<absl::StatusOr<bool>(const std::string&, const std::string&)>& job_exists)
    const {
  int removed = 0;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return 0;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& tenant_dir : fs::directory_iterator(root_, ec)) {
    if (!tenant_dir.is_directory(ec)) continue;
    const std::string tenant = tenant_dir.path().filename().string();
    for (const auto& job_dir : fs::directory_iterator(tenant_dir.path(), ec)) {
      if (!job_dir.is_directory(ec)) continue;
      const std::string job_id = job_dir.path().filename().string();
      if (!CheckScope(tenant, job_id).ok()) continue;
      const auto mtime = fs::last_write_time(job_dir.path(), ec);
      if (ec || now - mtime < absl::ToChronoNanoseconds(grace)) continue;
      ASSIGN_OR_RETURN(bool exists, job_exists(tenant, job_id));
      if (exists) continue;
      fs::remove_all(job_dir.path(), ec);
      if (!ec) ++removed;
    }
  }
  return removed;
}

}  // namespace evo2::svc
