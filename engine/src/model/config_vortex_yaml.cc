// ModelConfig from a vortex YAML (`config.yml` beside an Arc `.pt`; docs/spec/model.md §2).
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"
#include "model/config_common.h"
#include "yaml-cpp/yaml.h"

namespace evo2 {

namespace {

using internal::YamlReader;

// Switches whose published value the engine assumes (docs/spec/model.md §2); a YAML that
// sets another value describes a model this engine would compute wrongly, so it is refused.
struct ExpectedSwitch {
  const char* key;
  bool value;
};
constexpr ExpectedSwitch kSwitches[] = {
    {"interleave", true},          {"column_split", true},
    {"column_split_hyena", false}, {"hyena_flip_x1x2", false},
    {"short_filter_bias", false},  {"qkv_proj_bias", false},
    {"hyena_out_proj_bias", true}, {"tie_embeddings", true},
    {"final_norm", true},          {"evo2_style_activations", true},
};

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromVortexYamlString(std::string_view yaml,
                                                            std::string_view source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source_name), ": not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source_name), ": expected a YAML mapping of config keys"));
  }
  YamlReader r(root, source_name);
  ModelConfig c;
  c.name = r.String("model_name", "vortex-model");
  auto required_int = [&](const char* key, int& out) -> absl::Status {
    ASSIGN_OR_RETURN(out, r.RequiredInt32(key));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(required_int("num_layers", c.num_layers));
  RETURN_IF_ERROR(required_int("hidden_size", c.hidden_size));
  RETURN_IF_ERROR(required_int("num_attention_heads", c.num_heads));
  RETURN_IF_ERROR(required_int("hcs_filter_groups", c.hcs_filter_groups));
  RETURN_IF_ERROR(required_int("hcm_filter_groups", c.hcm_filter_groups));
  c.vocab_size = r.Int32("vocab_size", 512);
  c.inner_mlp_size = r.Int32("inner_mlp_size", 0);
  c.short_filter_length = r.Int32("short_filter_length", 3);
  c.hcs_filter_length = r.Int32("hcs_filter_length", 7);
  c.hcm_filter_length = r.Int32("hcm_filter_length", 128);
  c.hcl_modes = r.Int32("state_size", 16);
  c.rotary_base = r.Double("rotary_emb_base", 10000.0);
  if (r.Bool("use_interpolated_rotary_pos_emb", false)) {
    c.rotary_position_scale = r.Double("rotary_emb_scaling_factor", 1.0);
  }
  c.eps = static_cast<float>(r.Double("eps", 1e-6));
  c.max_seqlen = r.Int("max_seqlen", 8192);
  c.fp8_input_projections = r.Bool("use_fp8_input_projections", false);
  c.attn_out_proj_bias = r.Bool("mha_out_proj_bias", true);
  RETURN_IF_ERROR(r.status());

  for (const auto& sw : kSwitches) {
    if (root[sw.key] && r.Bool(sw.key, sw.value) != sw.value) {
      return absl::UnimplementedError(
          absl::StrCat(std::string(source_name), ": '", sw.key, ": ", sw.value ? "false" : "true",
                       "' is not supported (every published Evo 2 model uses ",
                       sw.value ? "true" : "false", ")"));
    }
  }
  if (root["proj_groups"] && r.Int("proj_groups", 1) != 1) {
    return absl::UnimplementedError(
        absl::StrCat(std::string(source_name),
                     ": 'proj_groups' != 1 (grouped-query attention) is not supported"));
  }
  const std::string act = r.String("mlp_activation", "gelu");
  if (act != "gelu") {
    return absl::UnimplementedError(absl::StrCat(std::string(source_name), ": mlp_activation '",
                                                 act, "' is not supported (expected gelu)"));
  }
  RETURN_IF_ERROR(r.status());

  // Layer kinds from the explicit lists (never from i mod 7: the 40B pattern is irregular).
  if (c.num_layers <= 0 || c.num_layers > internal::kMaxConfigLayers) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source_name), ": num_layers ",
                                                   c.num_layers, " is not in [1, ",
                                                   internal::kMaxConfigLayers, "]"));
  }
  std::vector<int> assigned(c.num_layers, -1);
  const std::pair<const char*, BlockKind> kLists[] = {
      {"hcs_layer_idxs", BlockKind::kHcs},
      {"hcm_layer_idxs", BlockKind::kHcm},
      {"hcl_layer_idxs", BlockKind::kHcl},
      {"attn_layer_idxs", BlockKind::kAttn},
  };
  c.block_kinds.assign(c.num_layers, BlockKind::kHcs);
  for (size_t list = 0; list < std::size(kLists); ++list) {
    const auto& [key, kind] = kLists[list];
    ASSIGN_OR_RETURN(auto idxs, r.IntList(key));
    for (int64_t i : idxs) {
      if (i < 0 || i >= c.num_layers) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(source_name), ": ", key,
                                                       " has layer ", i, " outside [0, ",
                                                       c.num_layers, ")"));
      }
      if (assigned[i] >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(source_name), ": layer ", i,
                                                       " appears in ", kLists[assigned[i]].first,
                                                       " and in ", key));
      }
      assigned[i] = static_cast<int>(list);
      c.block_kinds[i] = kind;
    }
  }
  for (int i = 0; i < c.num_layers; ++i) {
    if (assigned[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(source_name), ": layer ", i,
          " is in none of hcs_layer_idxs, hcm_layer_idxs, hcl_layer_idxs, attn_layer_idxs"));
    }
  }
  RETURN_IF_ERROR(internal::FinishConfig(c, source_name));
  return c;
}

absl::StatusOr<ModelConfig> ModelConfigFromVortexYaml(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(auto text, internal::ReadTextFile(path));
  return ModelConfigFromVortexYamlString(text, path.string());
}

}  // namespace evo2
