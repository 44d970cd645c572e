#include "evo2/safetensors.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace evo2 {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

constexpr std::pair<DType, const char*> kDTypes[] = {
    {DType::kFloat32, "F32"}, {DType::kBFloat16, "BF16"}, {DType::kFloat16, "F16"},
    {DType::kFloat64, "F64"}, {DType::kInt64, "I64"},     {DType::kInt32, "I32"},
    {DType::kInt16, "I16"},   {DType::kInt8, "I8"},       {DType::kUInt8, "U8"},
    {DType::kBool, "BOOL"},
};

}  // namespace

absl::Status WriteSafetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": duplicate or reserved tensor name '", name, "'"));
    }
    const char* dtype = nullptr;
    for (const auto& [d, n] : kDTypes) {
      if (d == t.dtype()) dtype = n;
    }
    header[name] = {{"dtype", dtype}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  ASSIGN_OR_RETURN(auto file, io::AtomicFileWriter::Open(path));
  RETURN_IF_ERROR(file.Write(prefix));
  RETURN_IF_ERROR(file.Write(json));
  for (const auto& [name, t] : tensors) {
    RETURN_IF_ERROR(file.Write(t.bytes()));
  }
  return file.Commit();
}

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const auto file, io::MappedFile::Open(path));
  const auto bytes = file->bytes();
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(path.string(), ": not a valid safetensors file: ", std::string(what)));
  };
  if (bytes.size() < 8) return bad("shorter than its 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  if (n > kMaxHeaderBytes || n > bytes.size() - 8) return bad(absl::StrCat("header length ", n, " is too large"));
  const size_t data_start = 8 + n;
  const size_t data_size = bytes.size() - data_start;
  SafetensorsFile out;
  try {
    const auto header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data() + 8),
                                              reinterpret_cast<const char*>(bytes.data() + data_start));
    if (!header.is_object()) return bad("header is not a JSON object");
    struct Entry {
      uint64_t begin, end;
      std::string name;
      DType dtype;
      std::vector<int64_t> shape;
    };
    std::vector<Entry> entries;
    for (const auto& [name, v] : header.items()) {
      if (name == "__metadata__") {
        for (const auto& [k, m] : v.items()) out.metadata[k] = m.get<std::string>();
        continue;
      }
      const std::string dtype_name = v.at("dtype").get<std::string>();
      const DType* dtype = nullptr;
      for (const auto& [d, dn] : kDTypes) {
        if (dtype_name == dn) dtype = &d;
      }
      if (dtype == nullptr) return bad(absl::StrCat("tensor '", name, "' has unsupported dtype ", dtype_name));
      Entry e{v.at("data_offsets").at(0).get<uint64_t>(), v.at("data_offsets").at(1).get<uint64_t>(), name,
              *dtype, v.at("shape").get<std::vector<int64_t>>()};
      uint64_t numel = 1;
      for (int64_t d : e.shape) {
        if (d < 0 || (d > 0 && numel > (uint64_t{1} << 50) / static_cast<uint64_t>(d))) {
          return bad(absl::StrCat("tensor '", name, "' has a bad shape"));
        }
        numel *= static_cast<uint64_t>(d);
      }
      if (e.begin > e.end || e.end > data_size || e.end - e.begin != numel * DTypeSize(e.dtype)) {
        return bad(absl::StrCat("tensor '", name, "' has data offsets [", e.begin, ", ", e.end,
                                ") that do not match its shape or the ", data_size, "-byte data section"));
      }
      entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    for (auto& e : entries) {
      ASSIGN_OR_RETURN(auto t, Tensor::View(file, data_start + e.begin, e.dtype, std::move(e.shape)));
      out.tensors.emplace_back(std::move(e.name), std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  return out;
}

}  // namespace evo2
