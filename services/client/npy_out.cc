#include "npy_out.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/npy.h"
#include "evo2/status_macros.h"
#include "evo2/tensor.h"

namespace evo2::client {

namespace {

// `t` as a float32 evo2::Tensor (bf16 widened).
absl::StatusOr<evo2::Tensor> AsFloat32(const evo2::v1::Tensor& t) {
  const std::string& data = t.data();
  const size_t width = t.dtype() == evo2::v1::DTYPE_BFLOAT16 ? 2 : 4;
  if (data.size() % width != 0) {
    return absl::DataLossError(absl::StrCat("tensor '", t.name(), "' has ", data.size(),
                                            " bytes, not a whole number of values"));
  }
  std::vector<float> values(data.size() / width);  // little-endian on every supported host
  if (width == 2) {
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t bits = 0;
      std::memcpy(&bits, data.data() + 2 * i, 2);
      values[i] = evo2::BFloat16ToFloat(bits);
    }
  } else if (!values.empty()) {
    std::memcpy(values.data(), data.data(), data.size());
  }
  const std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
  return evo2::Tensor::FromFloat32(shape, values);
}

}  // namespace

absl::Status WriteNpy(const std::filesystem::path& path, const evo2::v1::Tensor& t) {
  ASSIGN_OR_RETURN(auto tensor, AsFloat32(t));
  return evo2::WriteNpy(path, tensor);
}

absl::StatusOr<std::string> NpyBytes(const evo2::v1::Tensor& t) {
  ASSIGN_OR_RETURN(auto tensor, AsFloat32(t));
  ASSIGN_OR_RETURN(std::string out, evo2::EncodeNpyHeader(tensor));
  const auto bytes = tensor.bytes();
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return out;
}

}  // namespace evo2::client
