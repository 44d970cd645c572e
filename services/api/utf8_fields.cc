#include "utf8_fields.h"

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "error_details.h"
#include "evo2/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace evo2::svc {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

// Deeper nesting than this is refused by the parser anyway (its default recursion limit).
constexpr int kMaxDepth = 100;

absl::Status Walk(const Descriptor& type, std::string_view wire, const std::string& prefix,
                  int depth) {
  if (depth > kMaxDepth) return absl::OkStatus();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  std::map<int, int> count;  // occurrences per field number: the index of a repeated element
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return absl::OkStatus();  // end of input, or malformed: the parser decides
    const FieldDescriptor* f = type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    const bool walk =
        f != nullptr &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        (f->type() == FieldDescriptor::TYPE_STRING || f->type() == FieldDescriptor::TYPE_MESSAGE);
    if (!walk) {
      if (!WireFormatLite::SkipField(&in, tag)) return absl::OkStatus();
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return absl::OkStatus();
    const size_t at = static_cast<size_t>(in.CurrentPosition());
    if (length > wire.size() - at) return absl::OkStatus();
    const std::string_view value = wire.substr(at, length);
    in.Skip(static_cast<int>(length));
    const int index = count[f->number()]++;
    const std::string path = f->is_repeated() ? absl::StrCat(prefix, f->name(), "[", index, "]")
                                              : absl::StrCat(prefix, f->name());
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      RETURN_IF_ERROR(Walk(*f->message_type(), value, absl::StrCat(path, "."), depth + 1));
      continue;
    }
    if (const size_t bad = FirstInvalidUtf8(value); bad != std::string_view::npos) {
      return InvalidField(
          path, absl::StrFormat("%s: byte 0x%02x at offset %d is not valid UTF-8 (text fields "
                                "must be UTF-8)",
                                path, static_cast<unsigned char>(value[bad]), bad));
    }
  }
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;        // continuation bytes
    unsigned lo = 0x80;  // allowed range of the second byte
    unsigned hi = 0xbf;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + n >= s.size()) return i;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      const unsigned min = k == 1 ? lo : 0x80;
      const unsigned max = k == 1 ? hi : 0xbf;
      if (b < min || b > max) return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

absl::Status CheckUtf8Fields(const Descriptor& type, std::string_view wire) {
  return Walk(type, wire, "", 0);
}

}  // namespace evo2::svc
