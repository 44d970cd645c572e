#include "io/zip_archive.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/crc32.h"

namespace evo2::io {
namespace {

// Signatures and fixed sizes from PKWARE's APPNOTE.TXT (sections 4.3.7, 4.3.12, 4.3.14-16).
constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;

// Little-endian reads from a bounds-checked span.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  bool Has(uint64_t offset, uint64_t n) const {
    return offset <= bytes_.size() && n <= bytes_.size() - offset;
  }
  uint64_t Le(uint64_t offset, int n) const {  // caller checked Has(offset, n)
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes_[offset + i]);
    return v;
  }
  uint16_t U16(uint64_t o) const { return static_cast<uint16_t>(Le(o, 2)); }
  uint32_t U32(uint64_t o) const { return static_cast<uint32_t>(Le(o, 4)); }
  uint64_t U64(uint64_t o) const { return Le(o, 8); }
  size_t size() const { return bytes_.size(); }
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  std::span<const std::byte> bytes_;
};

}  // namespace

absl::StatusOr<ZipArchive> ZipArchive::Open(std::shared_ptr<const Storage> storage,
                                            std::string where) {
  const auto range = storage->bytes();
  return Open(std::move(storage), range, std::move(where));
}

absl::StatusOr<ZipArchive> ZipArchive::Open(std::shared_ptr<const Storage> storage,
                                            std::span<const std::byte> range, std::string where) {
  auto corrupt = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(where, ": not a valid zip archive: ", std::string(what)));
  };
  const Reader r(range);
  if (r.size() < kEndSize) return corrupt(absl::StrCat("only ", r.size(), " bytes"));

  // 1. End of central directory: the last record with the signature, within the 64 KiB comment
  //    window, whose comment length reaches exactly to the end.
  uint64_t end = UINT64_MAX;
  const uint64_t lowest = r.size() - kEndSize > 0xFFFF ? r.size() - kEndSize - 0xFFFF : 0;
  for (uint64_t p = r.size() - kEndSize + 1; p-- > lowest;) {
    if (r.U32(p) == kEndSig && p + kEndSize + r.U16(p + 20) == r.size()) {
      end = p;
      break;
    }
  }
  if (end == UINT64_MAX) return corrupt("no end-of-central-directory record (truncated file?)");
  uint64_t num_entries = r.U16(end + 10);
  uint64_t cd_size = r.U32(end + 12);
  uint64_t cd_offset = r.U32(end + 16);
  if (r.U16(end + 4) != 0 || r.U16(end + 6) != 0) return corrupt("multi-disk archives are not supported");

  // 2. ZIP64 end record, found through its locator just before the classic record.
  if (end >= kZip64LocatorSize && r.U32(end - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint64_t z64 = r.U64(end - kZip64LocatorSize + 8);
    if (!r.Has(z64, kZip64EndSize) || r.U32(z64) != kZip64EndSig) {
      return corrupt("ZIP64 locator points outside the archive or at a non-ZIP64 record");
    }
    num_entries = r.U64(z64 + 32);
    cd_size = r.U64(z64 + 40);
    cd_offset = r.U64(z64 + 48);
  }
  if (!r.Has(cd_offset, cd_size)) {
    return corrupt(absl::StrCat("central directory (", cd_size, " bytes at ", cd_offset,
                                ") lies outside the ", r.size(), "-byte archive"));
  }
  if (num_entries > cd_size / kCentralHeaderSize) {
    return corrupt(absl::StrCat(num_entries, " entries cannot fit a ", cd_size,
                                "-byte central directory"));
  }

  ZipArchive archive;
  archive.storage_ = std::move(storage);
  archive.range_ = range;
  archive.where_ = where;
  archive.entries_.reserve(num_entries);
  std::unordered_set<std::string> seen;
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < num_entries; ++i) {
    if (p + kCentralHeaderSize > cd_end || r.U32(p) != kCentralHeaderSig) {
      return corrupt(absl::StrCat("central directory entry ", i, " is damaged"));
    }
    const uint16_t flags = r.U16(p + 8);
    const uint16_t method = r.U16(p + 10);
    const uint32_t crc = r.U32(p + 16);
    uint64_t comp_size = r.U32(p + 20);
    uint64_t size = r.U32(p + 24);
    const uint16_t name_len = r.U16(p + 28);
    const uint16_t extra_len = r.U16(p + 30);
    const uint16_t comment_len = r.U16(p + 32);
    uint64_t local = r.U32(p + 42);
    const uint64_t var = p + kCentralHeaderSize;
    if (var + name_len + extra_len + comment_len > cd_end) {
      return corrupt(absl::StrCat("central directory entry ", i, " runs past the directory"));
    }
    std::string name(reinterpret_cast<const char*>(range.data() + var), name_len);
    // ZIP64 extended information: present fields are those whose 32-bit value is saturated,
    // in the order uncompressed size, compressed size, local header offset (APPNOTE 4.5.3).
    for (uint64_t e = var + name_len; e + 4 <= var + name_len + extra_len;) {
      const uint16_t id = r.U16(e);
      const uint16_t len = r.U16(e + 2);
      if (e + 4 + len > var + name_len + extra_len) return corrupt(absl::StrCat("bad extra field in '", name, "'"));
      if (id == kZip64ExtraId) {
        uint64_t q = e + 4;
        const uint64_t q_end = q + len;
        for (uint64_t* field : {&size, &comp_size, &local}) {
          if (*field != 0xFFFFFFFFu) continue;
          if (q + 8 > q_end) return corrupt(absl::StrCat("short ZIP64 extra field in '", name, "'"));
          *field = r.U64(q);
          q += 8;
        }
      }
      e += 4 + len;
    }
    if (flags & 0x1) return corrupt(absl::StrCat("member '", name, "' is encrypted"));
    if (method != 0) {
      return absl::UnimplementedError(absl::StrCat(
          where, ": member '", name, "' is compressed (method ", method,
          "); torch.save archives store members uncompressed"));
    }
    if (comp_size != size) {
      return corrupt(absl::StrCat("stored member '", name, "' has compressed size ", comp_size,
                                  " != size ", size));
    }
    if (!r.Has(local, kLocalHeaderSize) || r.U32(local) != kLocalHeaderSig) {
      return corrupt(absl::StrCat("local header of '", name, "' missing at offset ", local));
    }
    const uint64_t data = local + kLocalHeaderSize + r.U16(local + 26) + r.U16(local + 28);
    if (!r.Has(data, size)) {
      return corrupt(absl::StrCat("member '", name, "' (", size, " bytes at ", data,
                                  ") runs past the end of the ", r.size(), "-byte archive"));
    }
    if (!seen.insert(name).second) return corrupt(absl::StrCat("duplicate member '", name, "'"));
    archive.entries_.push_back(ZipEntry{std::move(name), data, size, crc});
    p = var + name_len + extra_len + comment_len;
  }
  return archive;
}

const ZipEntry* ZipArchive::Find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::span<const std::byte> ZipArchive::Data(const ZipEntry& entry) const {
  return range_.subspan(entry.data_offset, entry.size);
}

size_t ZipArchive::StorageOffset(const ZipEntry& entry) const {
  return static_cast<size_t>(range_.data() - storage_->bytes().data()) + entry.data_offset;
}

absl::Status ZipArchive::VerifyCrc(const ZipEntry& entry) const {
  const uint32_t crc = Crc32(Data(entry));
  if (crc != entry.crc32) {
    return absl::DataLossError(absl::StrCat(where_, ": member '", entry.name, "' fails its CRC-32 check"));
  }
  return absl::OkStatus();
}

}  // namespace evo2::io
