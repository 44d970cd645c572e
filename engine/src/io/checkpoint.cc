// Checkpoint format detection and the vortex `.pt` loader (docs/spec/checkpoints.md §1).
#include "evo2/checkpoint.h"

#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "io/mapped_file.h"
#include "io/nemo2_reader.h"
#include "io/pt_reader.h"

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

absl::StatusOr<Checkpoint> LoadVortexPt(const fs::path& pt) {
  auto file = io::MappedFile::Open(pt);
  if (!file.ok()) return file.status();
  auto archive = io::TorchArchive::Open(*file, (*file)->bytes(), pt.string());
  if (!archive.ok()) return archive.status();
  // `*._extra_state` entries (Transformer Engine FP8 metadata, io.BytesIO objects) are skipped
  // without being decoded (docs/spec/checkpoints.md §1).
  auto named = archive->TensorDict(/*skip_extra_state=*/true);
  if (!named.ok()) return named.status();
  Checkpoint ckpt{CheckpointFormat::kVortexPt, pt, {}, std::nullopt, std::nullopt};
  for (auto& [name, tensor] : *named) ckpt.tensors.emplace(std::move(name), std::move(tensor));
  if (ckpt.tensors.empty()) {
    return absl::DataLossError(absl::StrCat(pt.string(), ": the checkpoint holds no tensors"));
  }
  return ckpt;
}

// Resolves `path` to (format, the file or directory to load).
absl::StatusOr<std::pair<CheckpointFormat, fs::path>> Resolve(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", path.string(), "' does not exist"));
  }
  if (IsFile(path)) {
    const std::string name = path.filename().string();
    if (name.find(".pt.part") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path.string(), " is one byte-wise shard of a checkpoint: concatenate the parts "
          "(cat NAME.pt.part0 NAME.pt.part1 ... > NAME.pt) and load NAME.pt"));
    }
    if (path.filename() == ".metadata") return std::pair{CheckpointFormat::kNemo2, path.parent_path()};
    if (path.extension() == ".safetensors") return std::pair{CheckpointFormat::kSafetensors, path};
    return std::pair{CheckpointFormat::kVortexPt, path};
  }
  if (!fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path.string(), "' is neither a file nor a directory"));
  }
  if (IsFile(path / "weights" / ".metadata") || IsFile(path / ".metadata")) {
    return std::pair{CheckpointFormat::kNemo2, path};
  }
  const auto pts = FilesWithExtension(path, ".pt");
  if (pts.size() == 1) return std::pair{CheckpointFormat::kVortexPt, pts[0]};
  if (pts.size() > 1) {
    std::vector<std::string> names;
    for (const auto& p : pts) names.push_back(p.filename().string());
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint directory '", path.string(), "' holds several .pt files (",
        absl::StrJoin(names, ", "), "): pass the one to load"));
  }
  if (!FilesWithExtension(path, ".safetensors").empty()) {
    return std::pair{CheckpointFormat::kSafetensors, path};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", path.string(), "' is not a checkpoint: expected a .pt file, a directory with one .pt "
      "and its config.yml, or a NeMo2 directory with weights/.metadata"));
}

}  // namespace

absl::StatusOr<CheckpointFormat> DetectCheckpointFormat(const fs::path& path) {
  auto r = Resolve(path);
  if (!r.ok()) return r.status();
  return r->first;
}

absl::StatusOr<Checkpoint> LoadCheckpoint(const fs::path& path) {
  auto r = Resolve(path);
  if (!r.ok()) return r.status();
  switch (r->first) {
    case CheckpointFormat::kVortexPt: {
      auto ckpt = LoadVortexPt(r->second);
      if (ckpt.ok()) ckpt->config_yaml = ConfigYamlBeside(r->second.parent_path());
      return ckpt;
    }
    case CheckpointFormat::kNemo2:
      return io::LoadNemo2Checkpoint(r->second);
    case CheckpointFormat::kSafetensors:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(
      path.string(), ": HuggingFace safetensors checkpoints are not supported yet"));
}

}  // namespace evo2
