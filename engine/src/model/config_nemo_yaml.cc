// ModelConfig from a NeMo2 checkpoint's `context/model.yaml` (docs/spec/checkpoints.md §4;
// docs/spec/predict-cli.md §4.1–4.2). The layer kinds come from `hybrid_override_pattern`.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"
#include "model/config_common.h"
#include "yaml-cpp/yaml.h"

namespace evo2 {

namespace {

absl::StatusOr<std::vector<BlockKind>> KindsFromPattern(std::string_view pattern,
                                                        std::string_view source) {
  std::vector<BlockKind> kinds;
  for (size_t i = 0; i < pattern.size(); ++i) {
    switch (pattern[i]) {
      case 'S':
        kinds.push_back(BlockKind::kHcs);
        break;
      case 'D':
        kinds.push_back(BlockKind::kHcm);
        break;
      case 'H':
        kinds.push_back(BlockKind::kHcl);
        break;
      case '*':
        kinds.push_back(BlockKind::kAttn);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(source), ": hybrid_override_pattern '", std::string(pattern),
                         "' has '", std::string(1, pattern[i]), "' at layer ", i,
                         " (expected S, D, H or * for an Evo 2 Hyena model)"));
    }
  }
  return kinds;
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromNemoYamlString(std::string_view yaml,
                                                          std::string_view source_name) {
  const std::string src(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": not valid YAML: ", e.what()));
  }
  // model.yaml nests the model config under `config:`; accept a bare config mapping too.
  YAML::Node cfg =
      (root.IsMap() && root["config"] && root["config"].IsMap()) ? root["config"] : root;
  if (!cfg.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": expected a NeMo model config mapping"));
  }
  internal::YamlReader r(cfg, src);
  ModelConfig c;
  c.name = r.String("_target_", "nemo-hyena");
  if (auto p = c.name.rfind('.'); p != std::string::npos) c.name = c.name.substr(p + 1);
  const std::string pattern = r.String("hybrid_override_pattern", "");
  if (pattern.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": missing 'hybrid_override_pattern' (not an Evo 2 Hyena config?)"));
  }
  ASSIGN_OR_RETURN(auto kinds, KindsFromPattern(pattern, src));
  c.block_kinds = kinds;
  c.num_layers = r.Int32("num_layers", static_cast<int>(kinds.size()));
  c.hidden_size = r.Int32("hidden_size", 0);
  c.num_heads = r.Int32("num_attention_heads", 0);
  c.head_dim = r.Int32("kv_channels", 0);  // null -> H / heads
  c.inner_mlp_size = r.Int32("ffn_hidden_size", 0);
  c.hcs_filter_groups = r.Int32("num_groups_hyena_short", 0);
  c.hcm_filter_groups = r.Int32("num_groups_hyena_medium", 0);
  c.rotary_base = r.Double("rotary_base", 10000.0);
  c.rotary_position_scale = r.Double("seq_len_interpolation_factor", 1.0);
  c.eps = static_cast<float>(r.Double("layernorm_epsilon", 1e-6));
  c.max_seqlen = r.Int("seq_length", 8192);
  c.mlp_activation =
      r.Bool("remove_activation_post_first_layer", true) ? MlpActivation::kArc : MlpActivation::kNv;
  c.attn_out_proj_bias = r.Bool("add_attn_proj_bias", true);
  c.hcs_conv_bias = r.Bool("use_short_conv_bias", false);
  c.fp8_input_projections = r.Bool("vortex_style_fp8", false);
  const int64_t query_groups = r.Int("num_query_groups", 0);
  const double rotary_percent = r.Double("rotary_percent", 1.0);
  const bool rotary_interleaved = r.Bool("rotary_interleaved", false);
  const bool tied = r.Bool("share_embeddings_and_output_weights", true);
  RETURN_IF_ERROR(r.status());
  if (query_groups != 0 && query_groups != c.num_heads) {
    return absl::UnimplementedError(
        absl::StrCat(src, ": num_query_groups ", query_groups, " != heads ", c.num_heads,
                     " (grouped-query attention is not part of Evo 2 Hyena models)"));
  }
  if (rotary_percent != 1.0 || rotary_interleaved) {
    return absl::UnimplementedError(
        absl::StrCat(src, ": only full-dimension, non-interleaved rotary embedding is supported"));
  }
  if (!tied) {
    return absl::UnimplementedError(absl::StrCat(src, ": untied output layer is not supported"));
  }
  RETURN_IF_ERROR(internal::FinishConfig(c, src));
  return c;
}

absl::StatusOr<ModelConfig> ModelConfigFromNemoYaml(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(auto text, internal::ReadTextFile(path));
  return ModelConfigFromNemoYamlString(text, path.string());
}

}  // namespace evo2
