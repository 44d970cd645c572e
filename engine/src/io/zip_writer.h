// Writes an uncompressed zip the way PyTorch's PyTorchStreamWriter (miniz) does, so that our
// `.pt` files are laid out exactly like torch.save's: every member STORED, its data 64-byte
// aligned by an "FB" padding extra field, sizes and CRC in a data descriptor after the data
// (flags 0x0808), zero timestamps, ZIP64 end records always present.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "io/atomic_file.h"

namespace evo2::io {

class ZipWriter {
 public:
  explicit ZipWriter(AtomicFileWriter& out) : out_(out) {}
  // Appends one member.
  absl::Status Add(const std::string& name, std::span<const std::byte> data);
  absl::Status Add(const std::string& name, std::string_view text);
  // Writes the central directory and end records (does not commit the file).
  absl::Status Finish();

 private:
  struct Member {
    std::string name;
    uint64_t offset, size;
    uint32_t crc;
  };
  AtomicFileWriter& out_;
  std::vector<Member> members_;
};

}  // namespace evo2::io
