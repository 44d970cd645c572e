#include "evo2/tensor.h"

#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace evo2 {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kBFloat16:
    case DType::kFloat16:
    case DType::kInt16:
      return 2;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return 1;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
    case DType::kInt16: return "int16";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
  }
  return "?";
}

absl::StatusOr<DType> DTypeFromName(std::string_view name) {
  static const std::pair<std::string_view, DType> kNames[] = {
      {"float32", DType::kFloat32}, {"float", DType::kFloat32},   {"bfloat16", DType::kBFloat16},
      {"float16", DType::kFloat16}, {"half", DType::kFloat16},    {"float64", DType::kFloat64},
      {"double", DType::kFloat64},  {"int64", DType::kInt64},     {"long", DType::kInt64},
      {"int32", DType::kInt32},     {"int", DType::kInt32},       {"int16", DType::kInt16},
      {"short", DType::kInt16},     {"int8", DType::kInt8},       {"uint8", DType::kUInt8},
      {"bool", DType::kBool},
  };
  for (const auto& [n, d] : kNames) {
    if (n == name) return d;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", std::string(name), "'"));
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

std::span<const std::byte> Tensor::bytes() const {
  if (!storage_) return {};
  return storage_->bytes().subspan(byte_offset_, nbytes());
}

absl::StatusOr<Tensor> Tensor::View(std::shared_ptr<const Storage> storage, size_t byte_offset,
                                    DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  for (int64_t d : t.shape_) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension in shape ", ShapeString(t.shape_)));
  }
  const size_t available = storage ? storage->bytes().size() : 0;
  if (byte_offset > available || t.nbytes() > available - byte_offset) {
    return absl::OutOfRangeError(absl::StrCat("tensor ", ShapeString(t.shape_), " ", std::string(DTypeName(dtype)),
                                              " needs ", t.nbytes(), " bytes at offset ", byte_offset,
                                              " but its storage holds ", available));
  }
  t.storage_ = std::move(storage);
  t.byte_offset_ = byte_offset;
  return t;
}

absl::StatusOr<Tensor> Tensor::FromBytes(DType dtype, std::vector<int64_t> shape,
                                         std::span<const std::byte> bytes) {
  auto storage = std::make_shared<VectorStorage>(std::vector<std::byte>(bytes.begin(), bytes.end()));
  return View(std::move(storage), 0, dtype, std::move(shape));
}

Tensor Tensor::FromFloat32(std::vector<int64_t> shape, std::span<const float> values) {
  auto bytes = std::as_bytes(values);
  return *FromBytes(DType::kFloat32, std::move(shape), bytes);
}

Tensor Tensor::FromInt64(std::vector<int64_t> shape, std::span<const int64_t> values) {
  auto bytes = std::as_bytes(values);
  return *FromBytes(DType::kInt64, std::move(shape), bytes);
}

float BFloat16ToFloat(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t FloatToBFloat16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  if (std::isnan(value)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t rounding = 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FF;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    u = sign | 0x7F800000u | (mant << 13);
  } else {
    u = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace {
template <typename T>
T LoadUnaligned(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace

absl::StatusOr<std::vector<float>> Tensor::ToFloat32() const {
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  const std::byte* p = bytes().data();
  switch (dtype_) {
    case DType::kFloat32:
      if (n) std::memcpy(out.data(), p, static_cast<size_t>(n) * 4);
      break;
    case DType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) out[i] = BFloat16ToFloat(LoadUnaligned<uint16_t>(p + 2 * i));
      break;
    case DType::kFloat16:
      for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(LoadUnaligned<uint16_t>(p + 2 * i));
      break;
    case DType::kFloat64:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(LoadUnaligned<double>(p + 8 * i));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot convert ", DebugString(), " to float32: not a floating dtype"));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> Tensor::ToInt64() const {
  const int64_t n = numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const std::byte* p = bytes().data();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype_) {
      case DType::kInt64: out[i] = LoadUnaligned<int64_t>(p + 8 * i); break;
      case DType::kInt32: out[i] = LoadUnaligned<int32_t>(p + 4 * i); break;
      case DType::kInt16: out[i] = LoadUnaligned<int16_t>(p + 2 * i); break;
      case DType::kInt8: out[i] = LoadUnaligned<int8_t>(p + i); break;
      case DType::kUInt8:
      case DType::kBool: out[i] = LoadUnaligned<uint8_t>(p + i); break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("cannot convert ", DebugString(), " to int64: not an integer dtype"));
    }
  }
  return out;
}

std::string Tensor::DebugString() const {
  return absl::StrCat(ShapeString(shape_), " ", std::string(DTypeName(dtype_)));
}

}  // namespace evo2
