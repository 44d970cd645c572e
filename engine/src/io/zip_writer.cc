#include "evo2/status_macros.h"
#include "io/zip_writer.h"

#include "io/crc32.h"

namespace evo2::io {
namespace {

constexpr uint64_t kAlignment = 64;  // torch's kFieldAlignment
constexpr uint64_t k32Max = 0xFFFFFFFFu;

class Bytes {
 public:
  void U16(uint64_t v) { Le(v, 2); }
  void U32(uint64_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void Str(std::string_view s) { buf_.append(s); }
  void Fill(char c, size_t n) { buf_.append(n, c); }
  const std::string& str() const { return buf_; }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string buf_;
};

}  // namespace

absl::Status ZipWriter::Add(const std::string& name, std::string_view text) {
  return Add(name, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

absl::Status ZipWriter::Add(const std::string& name, std::span<const std::byte> data) {
  const uint64_t offset = out_.position();
  const uint64_t size = data.size();
  const bool zip64 = size >= k32Max || offset >= k32Max;
  // Local header (APPNOTE 4.3.7) as miniz writes it for torch: sizes and CRC deferred to the
  // data descriptor; for ZIP64 members a ZIP64 extra field with zeroed sizes (and the offset).
  Bytes h;
  h.U32(0x04034b50);
  h.U16(zip64 ? 45 : 0);  // version needed
  h.U16(0x0808);          // data descriptor + UTF-8 names
  h.U16(0);               // stored
  h.U32(0);               // time, date
  h.U32(0);               // crc (in the descriptor)
  h.U32(zip64 ? k32Max : 0);
  h.U32(zip64 ? k32Max : 0);
  h.U16(name.size());
  Bytes extra;
  if (zip64) {
    extra.U16(0x0001);
    extra.U16(size >= k32Max ? (offset >= k32Max ? 24 : 16) : 8);
    if (size >= k32Max) {
      extra.U64(0);
      extra.U64(0);
    }
    if (offset >= k32Max) extra.U64(offset);
  }
  // "FB" padding so the data starts on a 64-byte boundary (torch's getPadding()).
  const uint64_t start = offset + 30 + name.size() + extra.str().size() + 4;
  const uint64_t pad = (kAlignment - start % kAlignment) % kAlignment;
  extra.Str("FB");
  extra.U16(pad);
  extra.Fill('Z', pad);
  h.U16(extra.str().size());
  h.Str(name);
  h.Str(extra.str());
  RETURN_IF_ERROR(out_.Write(h.str()));
  RETURN_IF_ERROR(out_.Write(data));
  const uint32_t crc = Crc32(data);
  Bytes d;  // data descriptor (APPNOTE 4.3.9)
  d.U32(0x08074b50);
  d.U32(crc);
  if (zip64) {
    d.U64(size);
    d.U64(size);
  } else {
    d.U32(size);
    d.U32(size);
  }
  RETURN_IF_ERROR(out_.Write(d.str()));
  members_.push_back(Member{name, offset, size, crc});
  return absl::OkStatus();
}

absl::Status ZipWriter::Finish() {
  const uint64_t cd_offset = out_.position();
  Bytes cd;
  for (const Member& m : members_) {
    const bool big_size = m.size >= k32Max, big_offset = m.offset >= k32Max;
    cd.U32(0x02014b50);
    cd.U16(big_size || big_offset ? 45 : 0);  // version made by
    cd.U16(big_size || big_offset ? 45 : 0);  // version needed
    cd.U16(0x0808);
    cd.U16(0);
    cd.U32(0);
    cd.U32(m.crc);
    cd.U32(big_size ? k32Max : m.size);
    cd.U32(big_size ? k32Max : m.size);
    cd.U16(m.name.size());
    cd.U16(big_size || big_offset ? 4 + 8 * (2 * big_size + big_offset) : 0);
    cd.U16(0);  // comment
    cd.U16(0);  // disk
    cd.U16(0);  // internal attributes
    cd.U32(0);  // external attributes
    cd.U32(big_offset ? k32Max : m.offset);
    cd.Str(m.name);
    if (big_size || big_offset) {
      cd.U16(0x0001);
      cd.U16(8 * (2 * big_size + big_offset));
      if (big_size) {
        cd.U64(m.size);
        cd.U64(m.size);
      }
      if (big_offset) cd.U64(m.offset);
    }
  }
  const uint64_t cd_size = cd.str().size();
  const uint64_t z64_offset = cd_offset + cd_size;
  const uint64_t n = members_.size();
  Bytes end;
  end.U32(0x06064b50);  // ZIP64 end of central directory
  end.U64(44);
  end.U16(0x031e);  // made by: Unix, 3.0 (as miniz)
  end.U16(45);
  end.U32(0);
  end.U32(0);
  end.U64(n);
  end.U64(n);
  end.U64(cd_size);
  end.U64(cd_offset);
  end.U32(0x07064b50);  // ZIP64 locator
  end.U32(0);
  end.U64(z64_offset);
  end.U32(1);
  end.U32(0x06054b50);  // classic end record
  end.U16(0);
  end.U16(0);
  end.U16(n >= 0xFFFF ? 0xFFFF : n);
  end.U16(n >= 0xFFFF ? 0xFFFF : n);
  end.U32(cd_size >= k32Max ? k32Max : cd_size);
  end.U32(cd_offset >= k32Max ? k32Max : cd_offset);
  end.U16(0);
  RETURN_IF_ERROR(out_.Write(cd.str()));
  return out_.Write(end.str());
}

}  // namespace evo2::io
