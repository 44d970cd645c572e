// Checkpoint description (format, family, config source, weight layout) and the vortex `.pt`
// loader (docs/spec/checkpoints.md §1).
#include "evo2/checkpoint.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/status_macros.h"
#include "io/fp8_linear_names.h"
#include "io/mapped_file.h"
#include "io/nemo2_context.h"
#include "io/nemo2_reader.h"
#include "io/pt_reader.h"
#include "io/te_extra_state.h"
#include "nlohmann/json.hpp"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

bool IsFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::vector<fs::path> FilesWithExtension(const fs::path& dir, std::string_view ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec) && e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<fs::path> ConfigYamlBeside(const fs::path& dir) {
  for (const char* name : {"config.yml", "config.yaml"}) {
    if (IsFile(dir / name)) return dir / name;
  }
  return std::nullopt;
}

absl::StatusOr<Checkpoint> LoadVortexPt(const fs::path& pt, const CheckpointReadOptions& options) {
  ASSIGN_OR_RETURN(auto file, io::MappedFile::Open(pt));
  ASSIGN_OR_RETURN(auto archive, io::TorchArchive::Open(file, file->bytes(), pt.string()));
  // `*._extra_state` entries (Transformer Engine FP8 state) are not tensors of the model
  // (docs/spec/checkpoints.md §1); only the FP8 linears' ones are decoded, and only when asked.
  ASSIGN_OR_RETURN(auto named, archive.TensorDict(/*skip_extra_state=*/true));
  Checkpoint ckpt{CheckpointFormat::kVortexPt, pt, {}, std::nullopt, std::nullopt, {}};
  for (auto& [name, tensor] : named) ckpt.tensors.emplace(std::move(name), std::move(tensor));
  if (ckpt.tensors.empty()) {
    return absl::DataLossError(absl::StrCat(pt.string(), ": the checkpoint holds no tensors"));
  }
  if (options.te_fp8_scales) {
    constexpr absl::string_view kSuffix = "._extra_state";
    for (const auto& [k, v] : archive.root()->entries) {
      if (!absl::EndsWith(k->text, kSuffix)) continue;
      const std::string module = k->text.substr(0, k->text.size() - kSuffix.size());
      if (!io::IsFp8LinearModule(module)) continue;
      ASSIGN_OR_RETURN(const auto scales,
                       io::ReadTeExtraState(archive, v, absl::StrCat(pt.string(), ": ", k->text)));
      if (scales) ckpt.fp8_scales[module] = *scales;
    }
  }
  return ckpt;
}

// config.json's "architectures"[0] → the family that runs it.
absl::Status DescribeHf(const fs::path& dir, CheckpointDescription& d) {
  const fs::path config = dir / "config.json";
  if (!IsFile(config)) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir.string(), ": safetensors weights without a config.json (a HuggingFace checkpoint "
        "directory needs its config.json)"));
  }
  std::ifstream in(config);
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config.string(), ": not a JSON object"));
  }
  const auto archs = json.find("architectures");
  if (archs == json.end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.string(), ": no \"architectures\" list naming the model class"));
  }
  d.architecture = (*archs)[0].get<std::string>();
  if (d.architecture == "LlamaForCausalLM") {
    d.family = ModelFamily::kLlama;
  } else if (d.architecture == "NemotronHForCausalLM") {
    d.family = ModelFamily::kNemotronH;
  } else {
    return absl::UnimplementedError(absl::StrCat(
        config.string(), ": architecture '", d.architecture,
        "' is not supported (LlamaForCausalLM and NemotronHForCausalLM are)"));
  }
  d.format = CheckpointFormat::kSafetensors;
  d.weights = dir;
  d.config_source = ConfigSource::kHfConfigJson;
  d.config = config;
  d.weight_files = static_cast<int>(FilesWithExtension(dir, ".safetensors").size());
  return absl::OkStatus();
}

absl::StatusOr<CheckpointDescription> DescribeNemo2(const fs::path& dir) {
  CheckpointDescription d;
  d.format = CheckpointFormat::kNemo2;
  d.weights = dir;
  const fs::path weights = IsFile(dir / "weights" / ".metadata") ? dir / "weights" : dir;
  std::set<std::string> ranks;  // R of __R_N.distcp
  int files = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(weights, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("__") || e.path().extension() != ".distcp") continue;
    ++files;
    ranks.insert(name.substr(2, name.find('_', 2) - 2));
  }
  d.weight_files = std::max(1, files);
  d.saved_ranks = std::max<int>(1, static_cast<int>(ranks.size()));
  if (IsFile(dir / "context" / "model.yaml")) {
    d.config_source = ConfigSource::kNemoModelYaml;
    d.config = dir / "context" / "model.yaml";
    // The family comes from the context's model/config class (docs/spec/checkpoints.md §13);
    // without a context it is Hyena unless --model-size names another family (LoadModel).
    ASSIGN_OR_RETURN(d.family, io::Nemo2ContextFamily(*d.config));
  }
  return d;
}

CheckpointDescription DescribeVortexPt(const fs::path& pt) {
  CheckpointDescription d;
  d.format = CheckpointFormat::kVortexPt;
  d.weights = pt;
  d.config = ConfigYamlBeside(pt.parent_path());
  if (d.config) d.config_source = ConfigSource::kVortexYaml;
  return d;
}

}  // namespace

absl::StatusOr<CheckpointDescription> DescribeCheckpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", path.string(), "' does not exist"));
  }
  if (IsFile(path)) {
    const std::string name = path.filename().string();
    if (name.find(".pt.part") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path.string(),
          " is one byte-wise shard of a checkpoint: concatenate the parts "
          "(cat NAME.pt.part0 NAME.pt.part1 ... > NAME.pt) and load NAME.pt"));
    }
    if (path.filename() == ".metadata") {
      const fs::path dir = path.parent_path();
      return DescribeNemo2(dir.filename() == "weights" ? dir.parent_path() : dir);
    }
    if (path.extension() == ".safetensors" || path.filename() == "config.json") {
      CheckpointDescription d;
      RETURN_IF_ERROR(DescribeHf(path.parent_path(), d));
      return d;
    }
    return DescribeVortexPt(path);
  }
  if (!fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path.string(), "' is neither a file nor a directory"));
  }
  if (IsFile(path / "weights" / ".metadata") || IsFile(path / ".metadata")) {
    return DescribeNemo2(path);
  }
  const auto pts = FilesWithExtension(path, ".pt");
  if (pts.size() == 1) return DescribeVortexPt(pts[0]);
  if (pts.size() > 1) {
    std::vector<std::string> names;
    for (const auto& p : pts) names.push_back(p.filename().string());
    return absl::InvalidArgumentError(absl::StrCat("checkpoint directory '", path.string(),
                                                   "' holds several .pt files (",
                                                   absl::StrJoin(names, ", "),
                                                   "): pass the one to load"));
  }
  if (!FilesWithExtension(path, ".safetensors").empty()) {
    CheckpointDescription d;
    RETURN_IF_ERROR(DescribeHf(path, d));
    return d;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", path.string(),
      "' is not a checkpoint: expected a .pt file, a directory with one .pt and its config.yml, "
      "a NeMo2 directory with weights/.metadata, or a HuggingFace directory with config.json and "
      "*.safetensors"));
}

absl::StatusOr<Checkpoint> LoadCheckpoint(const fs::path& path,
                                          const CheckpointReadOptions& options) {
  ASSIGN_OR_RETURN(const CheckpointDescription d, DescribeCheckpoint(path));
  switch (d.format) {
    case CheckpointFormat::kVortexPt: {
      ASSIGN_OR_RETURN(Checkpoint ckpt, LoadVortexPt(d.weights, options));
      ckpt.config_yaml = d.config;
      return ckpt;
    }
    case CheckpointFormat::kNemo2:
      if (d.family != ModelFamily::kHyena) {
        return absl::InvalidArgumentError(absl::StrCat(
            path.string(), ": a NeMo2 checkpoint of the ", ModelFamilyName(d.family),
            " family is loaded by its model family, not as an Evo 2 tensor map; use LoadModel"));
      }
      return io::LoadNemo2Checkpoint(d.weights, options);
    case CheckpointFormat::kSafetensors:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path.string(), ": a HuggingFace checkpoint (", d.architecture,
      ") is loaded by its model family, not as an Evo 2 tensor map; use LoadModel"));
}

}  // namespace evo2
