// Read-only view of a zip archive held in memory (a memory-mapped file, or a byte range of one:
// a DCP `.distcp` item is a whole torch.save zip at an offset, docs/spec/checkpoints.md §2, §9).
//
// Only what torch.save writes is supported: STORED members (method 0), located through the
// central directory (local headers carry zero sizes when a data descriptor is used), ZIP64
// end records and extra fields. Member data is returned as a span into the mapped bytes, so
// tensors can view it without copying.
//
// Why not libzip here: libzip 1.7 (Debian 12) exposes no member data offset, and reading
// through zip_fread would copy every checkpoint byte; the central-directory subset torch uses
// is small. Tests cross-check this reader against libzip on every golden archive.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // relative to the archive start
  uint64_t size = 0;         // bytes (stored = uncompressed)
  uint32_t crc32 = 0;
};

class ZipArchive {
 public:
  // `range` must lie inside `storage->bytes()`; `where` names it in errors (e.g. the file path,
  // or "__0_1.distcp at offset 4096").
  static absl::StatusOr<ZipArchive> Open(std::shared_ptr<const Storage> storage,
                                         std::span<const std::byte> range, std::string where);
  // Whole storage.
  static absl::StatusOr<ZipArchive> Open(std::shared_ptr<const Storage> storage, std::string where);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const std::string& where() const { return where_; }
  // Entry by exact name, or nullptr.
  const ZipEntry* Find(std::string_view name) const;
  // The member's bytes (a view into the storage).
  std::span<const std::byte> Data(const ZipEntry& entry) const;
  // Byte offset of the member's data inside `storage()->bytes()` (for Tensor::View).
  size_t StorageOffset(const ZipEntry& entry) const;
  const std::shared_ptr<const Storage>& storage() const { return storage_; }
  // Checks a member's CRC-32 against the central directory.
  absl::Status VerifyCrc(const ZipEntry& entry) const;

 private:
  ZipArchive() = default;
  std::shared_ptr<const Storage> storage_;
  std::span<const std::byte> range_;
  std::string where_;
  std::vector<ZipEntry> entries_;
};

}  // namespace evo2::io
