#include "io/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace evo2::io {
namespace {

std::atomic<uint64_t> g_temp_counter{0};

absl::Status ErrnoError(std::string_view what, const std::filesystem::path& path, int err) {
  return absl::InternalError(
      absl::StrCat(std::string(what), " '", path.string(), "': ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<AtomicFileWriter> AtomicFileWriter::Open(const std::filesystem::path& path) {
  std::filesystem::path temp = path;
  temp += absl::StrCat(".tmp.", ::getpid(), ".", g_temp_counter.fetch_add(1));
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    const int err = errno;
    return absl::PermissionDeniedError(absl::StrCat("cannot create '", temp.string(),
                                                    "' (to write '", path.string(),
                                                    "'): ", std::strerror(err)));
  }
  return AtomicFileWriter(path, std::move(temp), f);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      temp_(std::move(other.temp_)),
      file_(other.file_),
      position_(other.position_),
      committed_(other.committed_) {
  other.file_ = nullptr;
  other.committed_ = true;  // nothing left for the moved-from object to clean up
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }
}

absl::Status AtomicFileWriter::Write(std::span<const std::byte> bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError("write after commit");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return ErrnoError("cannot write", temp_, errno);
  }
  position_ += bytes.size();
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Write(std::string_view text) {
  return Write(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

absl::Status AtomicFileWriter::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError("commit called twice");
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) {
    const int err = errno;
    std::fclose(f);
    return ErrnoError("cannot flush", temp_, err);
  }
  if (std::fclose(f) != 0) return ErrnoError("cannot close", temp_, errno);
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename '", temp_.string(), "' to '",
                                            path_.string(), "': ", ec.message()));
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace evo2::io
