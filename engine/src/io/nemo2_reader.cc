#include "io/nemo2_reader.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "evo2/status_macros.h"
#include "io/dcp_metadata.h"
#include "io/dcp_reader.h"
#include "io/fp8_linear_names.h"
#include "io/mapped_file.h"
#include "io/nemo2_names.h"
#include "io/te_extra_state.h"

namespace evo2::io {
namespace {

namespace fs = std::filesystem;
constexpr absl::string_view kModulePrefix = "module.";

// Rotary parameters from context/model.yaml's `config:` (Megatron TransformerConfig fields).
absl::StatusOr<std::optional<NemoRotary>> ReadRotary(const fs::path& model_yaml) {
  try {
    const YAML::Node root = YAML::LoadFile(model_yaml.string());
    const YAML::Node c = root["config"];
    if (!c || !c["hidden_size"] || !c["num_attention_heads"] || !c["rotary_base"]) return std::nullopt;
    const int64_t hidden = c["hidden_size"].as<int64_t>();
    const int64_t heads = c["num_attention_heads"].as<int64_t>();
    int64_t head_dim = heads > 0 ? hidden / heads : 0;
    if (c["kv_channels"] && !c["kv_channels"].IsNull()) head_dim = c["kv_channels"].as<int64_t>();
    double percent = 1.0;
    if (c["rotary_percent"] && !c["rotary_percent"].IsNull()) percent = c["rotary_percent"].as<double>();
    NemoRotary r;
    r.base = c["rotary_base"].as<double>();
    r.dim = static_cast<int64_t>(static_cast<double>(head_dim) * percent);
    if (r.dim <= 0 || r.dim % 2 != 0 || r.dim > 65536 || !(r.base > 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(model_yaml.string(), ": implausible rotary settings (head dim ",
                                                     head_dim, ", rotary_percent ", percent, ", rotary_base ", r.base, ")"));
    }
    return r;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(model_yaml.string(), ": ", e.what()));
  }
}

// The FP8 linears' `<module>._extra_state/shard_<i>_<n>` byte items (one per tensor-parallel
// rank that saved it) -> stored scales by vortex module name. TE reduces amaxes over the
// tensor-parallel group, so the ranks' scales agree; ranks that disagree are an error.
absl::StatusOr<std::map<std::string, StoredFp8Scales>> ReadStoredFp8Scales(
    const fs::path& weights, const DcpMetadata& metadata, bool have_module) {
  constexpr absl::string_view kSuffix = "._extra_state";
  std::map<std::string, StoredFp8Scales> out;
  std::map<std::string, std::string> source;  // vortex module -> the item its scales came from
  for (const std::string& fqn : metadata.byte_items) {
    absl::string_view name = fqn;
    if (have_module) {
      if (!absl::ConsumePrefix(&name, kModulePrefix)) continue;
    } else if (absl::StartsWith(name, "optimizer.")) {
      continue;
    }
    name = name.substr(0, name.find('/'));
    if (!absl::ConsumeSuffix(&name, kSuffix)) continue;
    const std::vector<std::string> modules = VortexModulesOfNemoLinear(name);
    if (modules.empty()) continue;
    ASSIGN_OR_RETURN(const std::vector<std::byte> item, ReadDcpByteItem(weights, metadata, fqn));
    ASSIGN_OR_RETURN(
        const auto scales,
        ReadTeExtraStateItem(item, absl::StrCat((weights / ".metadata").string(), ": ", fqn)));
    if (!scales) continue;
    for (const std::string& m : modules) {
      auto [it, inserted] = out.emplace(m, *scales);
      if (!inserted && !(it->second == *scales)) {
        return absl::DataLossError(
            absl::StrCat(weights.string(), ": the FP8 scales of '", fqn, "' (input ", scales->input,
                         ", weight ", scales->weight, ") differ from those of '", source[m],
                         "' (input ", it->second.input, ", weight ", it->second.weight, ")"));
      }
      source.emplace(m, fqn);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Nemo2Weights> ReadNemo2Weights(const fs::path& dir) {
  std::error_code ec;
  fs::path weights = dir / "weights";
  fs::path context = dir / "context";
  if (!fs::is_regular_file(weights / ".metadata", ec)) {
    weights = dir;  // given the weights directory itself
    context = dir.parent_path() / "context";
  }
  const fs::path metadata_path = weights / ".metadata";
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(metadata_path));
  ASSIGN_OR_RETURN(auto metadata, ParseDcpMetadata(file->bytes(), metadata_path.string()));

  // NeMo2 keys start with `module.`; MBridge checkpoints drop it (docs/spec/checkpoints.md §4).
  // Optimizer state is never needed for inference.
  bool have_module = false;
  for (const auto& t : metadata.tensors) have_module |= absl::StartsWith(t.fqn, kModulePrefix);
  auto wanted = [&](const std::string& fqn) {
    if (absl::EndsWith(fqn, "_extra_state")) return false;
    return have_module ? absl::StartsWith(fqn, kModulePrefix) : !absl::StartsWith(fqn, "optimizer.");
  };
  Nemo2Weights out;
  out.dir = dir;
  out.weights_dir = weights;
  ASSIGN_OR_RETURN(out.tensors, ReadDcpTensors(weights, metadata, wanted));
  if (out.tensors.empty()) {
    return absl::DataLossError(absl::StrCat(metadata_path.string(), ": no model tensors in the checkpoint"));
  }
  out.have_module = have_module;
  out.metadata = std::move(metadata);
  if (have_module) {
    for (auto& [name, t] : out.tensors) name = name.substr(kModulePrefix.size());
  }
  if (fs::is_regular_file(context / "model.yaml", ec)) out.model_yaml = context / "model.yaml";
  return out;
}

absl::StatusOr<Checkpoint> LoadNemo2Checkpoint(const fs::path& dir,
                                               const CheckpointReadOptions& options) {
  ASSIGN_OR_RETURN(Nemo2Weights weights, ReadNemo2Weights(dir));
  Checkpoint ckpt{CheckpointFormat::kNemo2, dir, {}, std::nullopt, weights.model_yaml, {}};
  std::optional<NemoRotary> rotary;
  if (weights.model_yaml) {
    ASSIGN_OR_RETURN(auto r, ReadRotary(*weights.model_yaml));
    rotary = r;
  }
  auto mapped = MapNemo2ToVortex(weights.tensors, rotary);
  if (!mapped.ok()) {
    return absl::Status(mapped.status().code(), absl::StrCat(dir.string(), ": ", mapped.status().message()));
  }
  ckpt.tensors = *std::move(mapped);
  if (options.te_fp8_scales) {
    ASSIGN_OR_RETURN(ckpt.fp8_scales, ReadStoredFp8Scales(weights.weights_dir, weights.metadata,
                                                           weights.have_module));
  }
  return ckpt;
}

}  // namespace evo2::io
