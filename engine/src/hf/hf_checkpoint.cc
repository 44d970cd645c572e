#include "hf/hf_checkpoint.h"

#include <algorithm>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/safetensors.h"
#include "evo2/status_macros.h"

namespace evo2::hf {
namespace fs = std::filesystem;

namespace {

fs::path DirOf(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) ? path : path.parent_path();
}

std::vector<fs::path> SafetensorsFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".safetensors")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

bool IsHfCheckpoint(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && path.extension() != ".safetensors") return false;
  const fs::path dir = DirOf(path);
  return fs::is_regular_file(dir / "config.json", ec) && !SafetensorsFiles(dir).empty();
}

absl::StatusOr<HfCheckpoint> ReadHfConfig(const fs::path& path) {
  HfCheckpoint ckpt;
  ckpt.dir = DirOf(path);
  const fs::path config_path = ckpt.dir / "config.json";
  std::ifstream in(config_path);
  if (!in) return absl::NotFoundError(absl::StrCat(config_path.string(), ": cannot open"));
  ckpt.config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (ckpt.config.is_discarded() || !ckpt.config.is_object())
    return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": not a JSON object"));
  const auto archs = ckpt.config.find("architectures");
  if (archs == ckpt.config.end() || !archs->is_array() || archs->empty() ||
      !(*archs)[0].is_string())
    return absl::InvalidArgumentError(
        absl::StrCat(config_path.string(), ": no \"architectures\" list naming the model class"));
  ckpt.architecture = (*archs)[0].get<std::string>();
  return ckpt;
}

absl::StatusOr<HfCheckpoint> LoadHfCheckpoint(const fs::path& path) {
  ASSIGN_OR_RETURN(HfCheckpoint ckpt, ReadHfConfig(path));
  const std::vector<fs::path> files = SafetensorsFiles(ckpt.dir);
  if (files.empty())
    return absl::NotFoundError(absl::StrCat(ckpt.dir.string(), ": no .safetensors files"));
  for (const fs::path& file : files) {
    auto st = ReadSafetensors(file);
    if (!st.ok())
      return absl::Status(st.status().code(),
                          absl::StrCat(file.string(), ": ", st.status().message()));
    for (auto& [name, tensor] : st->tensors) {
      if (!ckpt.tensors.emplace(name, std::move(tensor)).second)
        return absl::InvalidArgumentError(
            absl::StrCat(file.string(), ": tensor '", name, "' also appears in another file"));
    }
  }
  return ckpt;
}

absl::StatusOr<int64_t> ConfigInt(const HfCheckpoint& ckpt, const std::string& key) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || !it->is_number_integer())
    return absl::InvalidArgumentError(absl::StrCat((ckpt.dir / "config.json").string(), ": key '",
                                                   key, "' missing or not an integer"));
  return it->get<int64_t>();
}

absl::StatusOr<double> ConfigDouble(const HfCheckpoint& ckpt, const std::string& key) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || !it->is_number())
    return absl::InvalidArgumentError(absl::StrCat((ckpt.dir / "config.json").string(), ": key '",
                                                   key, "' missing or not a number"));
  return it->get<double>();
}

absl::StatusOr<Tensor> RequireTensor(const HfCheckpoint& ckpt, const std::string& name,
                                     const std::vector<int64_t>& shape) {
  const auto it = ckpt.tensors.find(name);
  if (it == ckpt.tensors.end())
    return absl::NotFoundError(
        absl::StrCat(ckpt.dir.string(), ": tensor '", name, "' is missing"));
  if (it->second.shape() != shape)
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir.string(), ": tensor '", name, "' is ",
                                                   it->second.DebugString(), ", expected ",
                                                   ShapeString(shape)));
  return it->second;
}

}  // namespace evo2::hf
