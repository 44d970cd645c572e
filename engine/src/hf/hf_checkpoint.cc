#include "hf/hf_checkpoint.h"

#include <algorithm>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/checkpoint.h"
#include "evo2/safetensors.h"
#include "evo2/status_macros.h"

namespace evo2::hf {
namespace fs = std::filesystem;

namespace {

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

absl::StatusOr<HfCheckpoint> LoadHfCheckpoint(const fs::path& path) {
  // Format and architecture: DescribeCheckpoint is the one place that reads them.
  ASSIGN_OR_RETURN(const CheckpointDescription desc, DescribeCheckpoint(path));
  if (desc.format != CheckpointFormat::kSafetensors) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), " is not a HuggingFace (config.json + safetensors) checkpoint"));
  }
  HfCheckpoint ckpt;
  ckpt.dir = desc.weights;
  ckpt.architecture = desc.architecture;
  const fs::path config_path = *desc.config;
  std::ifstream in(config_path);
  if (!in) return absl::NotFoundError(absl::StrCat(config_path.string(), ": cannot open"));
  ckpt.config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (ckpt.config.is_discarded() || !ckpt.config.is_object())
    return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": not a JSON object"));
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
    return absl::InvalidArgumentError(
        absl::StrCat(ckpt.ConfigName(), ": key '", key, "' missing or not an integer"));
  return it->get<int64_t>();
}

absl::StatusOr<double> ConfigDouble(const HfCheckpoint& ckpt, const std::string& key) {
  const auto it = ckpt.config.find(key);
  if (it == ckpt.config.end() || !it->is_number())
    return absl::InvalidArgumentError(
        absl::StrCat(ckpt.ConfigName(), ": key '", key, "' missing or not a number"));
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
