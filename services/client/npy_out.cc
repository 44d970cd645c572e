#include "npy_out.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace evo2::client {

absl::Status WriteNpy(const std::filesystem::path& path, const evo2::v1::Tensor& t) {
  std::string data = t.data();
  if (t.dtype() == evo2::v1::DTYPE_BFLOAT16) {
    std::string wide(data.size() * 2, '\0');
    for (size_t i = 0; i + 1 < data.size(); i += 2) {
      wide[2 * i + 2] = data[i];
      wide[2 * i + 3] = data[i + 1];
    }
    data = std::move(wide);
  }
  std::string shape = "(";
  for (int i = 0; i < t.shape_size(); ++i) absl::StrAppend(&shape, t.shape(i), ",");
  if (t.shape_size() > 1) shape.pop_back();
  shape += ")";
  std::string header =
      absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': ", shape, ", }");
  // Magic (6) + version (2) + header length (2) + header + '\n' is padded to a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char lenb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(lenb, 2);
  out << header;
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) return absl::UnavailableError(absl::StrCat("write failed: ", path.string()));
  return absl::OkStatus();
}

}  // namespace evo2::client
