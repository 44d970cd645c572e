// Host tensors: the currency between checkpoint readers, the model and output writers.
//
// A Tensor is a dense, C-contiguous, little-endian array on the host with a dtype and a
// shape. Its bytes live in a shared, immutable Storage so that many tensors can view one
// memory-mapped checkpoint without copies; a Tensor is cheap to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace evo2 {

enum class DType : uint8_t {
  kFloat32,
  kBFloat16,
  kFloat16,
  kFloat64,
  kInt64,
  kInt32,
  kInt16,
  kInt8,
  kUInt8,
  kBool,
};

// Bytes per element.
size_t DTypeSize(DType dtype);
// PyTorch's name without the "torch." prefix, e.g. "bfloat16".
std::string_view DTypeName(DType dtype);
// Inverse of DTypeName; also accepts "float", "half", "double", "long", "int".
absl::StatusOr<DType> DTypeFromName(std::string_view name);

// Owns (or keeps alive) a block of bytes. Subclasses may wrap a mmap or a buffer.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::span<const std::byte> bytes() const = 0;
};

// A Storage holding its bytes in a vector.
class VectorStorage final : public Storage {
 public:
  explicit VectorStorage(std::vector<std::byte> data) : data_(std::move(data)) {}
  std::span<const std::byte> bytes() const override { return data_; }

 private:
  std::vector<std::byte> data_;
};

class Tensor {
 public:
  Tensor() = default;
  // Views `numel * DTypeSize(dtype)` bytes of `storage` starting at `byte_offset`.
  // Fails if the range does not fit in the storage.
  static absl::StatusOr<Tensor> View(std::shared_ptr<const Storage> storage, size_t byte_offset,
                                     DType dtype, std::vector<int64_t> shape);
  // Copies `bytes` into a fresh storage.
  static absl::StatusOr<Tensor> FromBytes(DType dtype, std::vector<int64_t> shape,
                                          std::span<const std::byte> bytes);
  static Tensor FromFloat32(std::vector<int64_t> shape, std::span<const float> values);
  static Tensor FromInt64(std::vector<int64_t> shape, std::span<const int64_t> values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }
  std::span<const std::byte> bytes() const;

  // Converts any floating dtype (f32, bf16, f16, f64) to fp32 values; fails on integer dtypes.
  absl::StatusOr<std::vector<float>> ToFloat32() const;
  // Converts any integer or bool dtype to int64 values; fails on floating dtypes.
  absl::StatusOr<std::vector<int64_t>> ToInt64() const;

  // "[3, 4] bfloat16" — for error messages.
  std::string DebugString() const;

 private:
  std::shared_ptr<const Storage> storage_;
  size_t byte_offset_ = 0;
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> shape_;
};

std::string ShapeString(std::span<const int64_t> shape);

// Checkpoint contents by tensor name, in the engine's (vortex) naming.
using TensorMap = std::map<std::string, Tensor>;

// bf16 <-> fp32 helpers (round-to-nearest-even on the way down, NaN preserved).
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);
float HalfToFloat(uint16_t bits);

}  // namespace evo2
