// Writes a file so that readers never see it half-written: bytes go to a temporary file in the
// same directory, which is renamed over the target only when complete (requirement: "nothing
// half-written left behind as if it were complete").
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2::io {

class AtomicFileWriter {
 public:
  static absl::StatusOr<AtomicFileWriter> Open(const std::filesystem::path& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  // Removes the temporary file unless Commit() succeeded.
  ~AtomicFileWriter();

  absl::Status Write(std::span<const std::byte> bytes);
  absl::Status Write(std::string_view text);
  // Bytes written so far.
  uint64_t position() const { return position_; }
  // Flushes, fsyncs and renames onto the target path.
  absl::Status Commit();

 private:
  AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp, std::FILE* file)
      : path_(std::move(path)), temp_(std::move(temp)), file_(file) {}
  std::filesystem::path path_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  uint64_t position_ = 0;
  bool committed_ = false;
};

}  // namespace evo2::io
