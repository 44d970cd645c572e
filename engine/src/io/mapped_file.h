// A read-only memory map of a whole file, usable as a tensor Storage so that checkpoint tensors
// can view the file's bytes without copying them (no checkpoint byte is copied at load).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2::io {

class MappedFile final : public Storage {
 public:
  // Maps `path` read-only. An empty file maps to an empty span.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::filesystem::path& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const override { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile(std::filesystem::path path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  const std::byte* data_;
  size_t size_;
};

// A Storage that views a byte range of another storage and keeps it alive (e.g. one DCP chunk's
// zip inside a mapped `.distcp` file).
class SubStorage final : public Storage {
 public:
  SubStorage(std::shared_ptr<const Storage> parent, std::span<const std::byte> range)
      : parent_(std::move(parent)), range_(range) {}
  std::span<const std::byte> bytes() const override { return range_; }

 private:
  std::shared_ptr<const Storage> parent_;
  std::span<const std::byte> range_;
};

}  // namespace evo2::io
