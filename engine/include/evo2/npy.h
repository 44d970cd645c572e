// NumPy .npy files (format 1.0/2.0, little-endian, C order): the golden vectors' format and the
// engine's plain output format for non-Python users.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2 {

// Reads dtypes <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1 into a Tensor.
absl::StatusOr<Tensor> ReadNpy(const std::filesystem::path& path);

// The .npy header (magic, version, dict, padding) that precedes `tensor`'s bytes.
absl::StatusOr<std::string> EncodeNpyHeader(const Tensor& tensor);

// Writes `tensor` atomically (temporary file + rename).
absl::Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace evo2
