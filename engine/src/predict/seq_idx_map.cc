// seq_idx_map.json exactly as Python's `json.dump(dict)` writes it (docs/spec/predict-cli.md §1.3):
// separators ", " and ": ", ensure_ascii=True (non-ASCII as \uXXXX, surrogate pairs above the
// BMP), no trailing newline.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "evo2/prediction_writer.h"

namespace evo2 {
namespace {

// Decodes one UTF-8 code point at s[i] (the FASTA reader has validated headers); returns it and
// advances i. Invalid bytes map to U+FFFD like Python's lossy decoding.
uint32_t NextCodePoint(const std::string& s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (extra < 0 || i + static_cast<size_t>(extra) >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  uint32_t cp = c & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += static_cast<size_t>(extra) + 1;
  return cp;
}

void AppendJsonString(std::string& out, const std::string& s) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const uint32_t cp = NextCodePoint(s, i);
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20 || (cp >= 0x7F && cp < 0x10000)) {
          absl::StrAppendFormat(&out, "\\u%04x", cp);
        } else if (cp >= 0x10000) {
          const uint32_t v = cp - 0x10000;
          absl::StrAppendFormat(&out, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
          out.push_back(static_cast<char>(cp));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

std::string PythonJsonDumpSeqIdxMap(std::span<const std::string> names_in_order) {
  std::string out = "{";
  for (size_t i = 0; i < names_in_order.size(); ++i) {
    if (i > 0) out += ", ";
    AppendJsonString(out, names_in_order[i]);
    absl::StrAppend(&out, ": ", i);
  }
  out += "}";
  return out;
}

}  // namespace evo2
