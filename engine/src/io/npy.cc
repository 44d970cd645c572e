// NumPy .npy reader/writer (format spec: numpy/lib/format.py, "NEP 1"). Versions 1.0 (uint16
// header length) and 2.0/3.0 (uint32); the header is a Python dict literal with 'descr',
// 'fortran_order' and 'shape'. Data is read in place from a memory map.
#include "evo2/npy.h"

#include <cctype>
#include <cstring>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/status_macros.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace evo2 {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// Largest rank accepted; numpy's own limit is 64.
constexpr size_t kMaxRank = 64;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

absl::StatusOr<DType> DTypeFromDescr(const std::string& descr) {
  // '<' little-endian, '|' not applicable (1-byte types); '=' native (little on every platform
  // we build for). Big-endian '>' is refused rather than silently misread.
  if (descr.size() < 3) return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", descr, "'"));
  const char order = descr[0];
  const std::string kind = descr.substr(1);
  if (order == '>') {
    return absl::UnimplementedError(absl::StrCat("big-endian dtype '", descr, "' is not supported"));
  }
  if (order != '<' && order != '|' && order != '=') {
    return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", descr, "'"));
  }
  static const std::pair<const char*, DType> kKinds[] = {
      {"f4", DType::kFloat32}, {"f8", DType::kFloat64}, {"f2", DType::kFloat16},
      {"i8", DType::kInt64},   {"i4", DType::kInt32},   {"i2", DType::kInt16},
      {"i1", DType::kInt8},    {"u1", DType::kUInt8},   {"b1", DType::kBool},
  };
  for (const auto& [k, d] : kKinds) {
    if (kind == k) return d;
  }
  return absl::UnimplementedError(absl::StrCat("unsupported dtype '", descr, "'"));
}

absl::StatusOr<std::string> DescrFromDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return std::string("<f4");
    case DType::kFloat64: return std::string("<f8");
    case DType::kFloat16: return std::string("<f2");
    case DType::kInt64: return std::string("<i8");
    case DType::kInt32: return std::string("<i4");
    case DType::kInt16: return std::string("<i2");
    case DType::kInt8: return std::string("|i1");
    case DType::kUInt8: return std::string("|u1");
    case DType::kBool: return std::string("|b1");
    case DType::kBFloat16: break;
  }
  return absl::InvalidArgumentError(
      "NumPy has no bfloat16 dtype: convert the tensor to float32 before writing .npy");
}

// Parser for the header's dict literal: {'key': value, ...} where value is a quoted string,
// True/False, or a tuple of non-negative integers.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  absl::StatusOr<NpyHeader> Parse() {
    NpyHeader header;
    bool have_descr = false, have_order = false, have_shape = false;
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      auto key = ParseString();
      if (!key) return Error("expected a quoted key");
      if (!Consume(':')) return Error("expected ':'");
      if (*key == "descr") {
        auto s = ParseString();
        if (!s) return Error("'descr' must be a string");
        header.descr = *s;
        have_descr = true;
      } else if (*key == "fortran_order") {
        SkipSpace();
        if (ConsumeWord("True")) {
          header.fortran_order = true;
        } else if (ConsumeWord("False")) {
          header.fortran_order = false;
        } else {
          return Error("'fortran_order' must be True or False");
        }
        have_order = true;
      } else if (*key == "shape") {
        ASSIGN_OR_RETURN(auto s, ParseShape());
        header.shape = std::move(s);
        have_shape = true;
      } else {
        return Error(absl::StrCat("unexpected key '", *key, "'"));
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape) {
      return Error("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return header;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(std::string_view w) {
    if (text_.substr(pos_, w.size()) == w) {
      pos_ += w.size();
      return true;
    }
    return false;
  }
  std::optional<std::string> ParseString() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return std::nullopt;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    std::vector<int64_t> shape;
    if (!Consume('(')) return Error("'shape' must be a tuple");
    while (true) {
      SkipSpace();
      if (Consume(')')) break;
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Error("'shape' entries must be non-negative integers");
      }
      int64_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (v > (int64_t{1} << 48)) return Error("'shape' entry too large");
        v = v * 10 + (text_[pos_++] - '0');
      }
      // numpy may write 'L' suffixes in Python-2-era files.
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
      shape.push_back(v);
      if (shape.size() > kMaxRank) return Error("'shape' has too many dimensions");
      if (Consume(',')) continue;
      if (Consume(')')) break;
      return Error("expected ',' or ')' in 'shape'");
    }
    return shape;
  }
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("bad .npy header at character ", pos_, ": ", std::string(what)));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

uint32_t LoadLe(const std::byte* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

absl::StatusOr<Tensor> ReadNpy(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const auto file, io::MappedFile::Open(path));
  const std::span<const std::byte> bytes = file->bytes();
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(path.string(), ": ", s.message()));
  };
  if (bytes.size() < kMagicSize + 4 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) {
    return fail(absl::InvalidArgumentError("not a .npy file (missing \\x93NUMPY magic)"));
  }
  const int major = static_cast<int>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = LoadLe(bytes.data() + 8, 2);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail(absl::InvalidArgumentError("truncated .npy header"));
    header_len = LoadLe(bytes.data() + 8, 4);
    header_start = 12;
  } else {
    return fail(absl::UnimplementedError(absl::StrCat("unsupported .npy format version ", major)));
  }
  if (header_len > bytes.size() - header_start) {
    return fail(absl::OutOfRangeError(absl::StrCat("header length ", header_len,
                                                   " runs past the end of the file (",
                                                   bytes.size(), " bytes)")));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + header_start), header_len);
  auto header = HeaderParser(text).Parse();
  if (!header.ok()) return fail(header.status());
  auto dtype = DTypeFromDescr(header->descr);
  if (!dtype.ok()) return fail(dtype.status());
  // Fortran order only differs from C order for rank >= 2 with more than one non-unit dim.
  int non_unit = 0;
  for (int64_t d : header->shape) non_unit += d > 1 ? 1 : 0;
  if (header->fortran_order && non_unit > 1) {
    return fail(absl::UnimplementedError("fortran_order arrays are not supported (save in C order)"));
  }
  // Overflow-safe element count.
  uint64_t numel = 1;
  for (int64_t d : header->shape) {
    if (d != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) {
      return fail(absl::OutOfRangeError(absl::StrCat("shape ", ShapeString(header->shape), " is too large")));
    }
    numel *= static_cast<uint64_t>(d);
  }
  const size_t data_start = header_start + header_len;
  const uint64_t need = numel * DTypeSize(*dtype);
  if (need != bytes.size() - data_start) {
    return fail(absl::OutOfRangeError(absl::StrCat(
        "data of ", ShapeString(header->shape), " ", header->descr, " needs ", need,
        " bytes but the file holds ", bytes.size() - data_start, " after the header")));
  }
  auto tensor = Tensor::View(file, data_start, *dtype, header->shape);
  if (!tensor.ok()) return fail(tensor.status());
  return tensor;
}

absl::StatusOr<std::string> EncodeNpyHeader(const Tensor& tensor) {
  ASSIGN_OR_RETURN(auto descr, DescrFromDType(tensor.dtype()));
  std::string shape = "(";
  for (size_t i = 0; i < tensor.rank(); ++i) absl::StrAppend(&shape, tensor.dim(i), ",");
  if (tensor.rank() > 1) shape.pop_back();  // numpy writes "(3,)" but "(3, 4)"
  shape += ")";
  std::string dict =
      absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  // Pad with spaces and a final '\n' so that the data starts on a 64-byte boundary (numpy >= 1.14).
  std::string header;
  for (int major : {1, 2}) {
    const size_t prefix = major == 1 ? 10 : 12;
    const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
    const size_t len = total - prefix;
    if (major == 1 && len > 0xFFFF) continue;
    header.assign(kMagic, kMagicSize);
    header.push_back(static_cast<char>(major));
    header.push_back('\0');
    for (int i = 0; i < (major == 1 ? 2 : 4); ++i) header.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
    header += dict;
    header.append(len - dict.size() - 1, ' ');
    header.push_back('\n');
    break;
  }
  return header;
}

absl::Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor) {
  auto header = EncodeNpyHeader(tensor);
  if (!header.ok()) {
    return absl::Status(header.status().code(),
                        absl::StrCat(path.string(), ": ", header.status().message()));
  }
  ASSIGN_OR_RETURN(auto writer, io::AtomicFileWriter::Open(path));
  RETURN_IF_ERROR(writer.Write(*header));
  RETURN_IF_ERROR(writer.Write(tensor.bytes()));
  return writer.Commit();
}

}  // namespace evo2
