// Named model presets: the published evo2 models (docs/spec/model.md §2) and the bionemo
// `--model-size` names (docs/spec/predict-cli.md §4.2); the Mamba-2 hybrid and Llama/Eden names
// live with their families (hf/family_presets.h). inner_mlp_size is the nominal value only;
// LoadModel reads the real one from the checkpoint (the 1M checkpoints are padded).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"
#include "hf/family_presets.h"
#include "hf/llama_config.h"
#include "hf/nemotron_h_config.h"
#include "model/config_common.h"

namespace evo2 {

namespace {

constexpr const char* k1bPattern = "SDH*SDHSDH*SDHSDH*SDHSDH*";
constexpr const char* k7bPattern = "SDH*SDHSDH*SDHSDH*SDHSDH*SDHSDH*";
constexpr const char* k20bPattern = "SDH*SDHSDH*SDHSDH*SDHSDH";
constexpr const char* k40bPattern = "SDH*SDHSDH*SDHSDH*SDHSDH*SDHSDH*SDH*SDHSDH*SDHSDH*";

struct Preset {
  const char* name;
  const char* pattern;
  int hidden, heads, inner, groups;
  double rotary_base, position_scale;
  int64_t max_seqlen;
  bool nv;
  bool fp8;  // reference runs the Hyena projections in FP8 (docs/spec/model.md §2 table)
};

constexpr Preset kPresets[] = {
    // evo2 / HuggingFace names (docs/spec/model.md §2).
    {"evo2_1b_base", k1bPattern, 1920, 15, 5120, 128, 1e4, 1, 8192, false, true},
    {"evo2_7b_base", k7bPattern, 4096, 32, 11008, 256, 1e4, 1, 32768, false, false},
    {"evo2_7b", k7bPattern, 4096, 32, 11264, 256, 1e4, 128, 1048576, false, true},
    {"evo2_7b_262k", k7bPattern, 4096, 32, 11008, 256, 1e4, 32, 262144, false, false},
    {"evo2_20b", k20bPattern, 8192, 64, 22528, 512, 1e6, 128, 1048576, false, true},
    {"evo2_40b_base", k40bPattern, 8192, 64, 21888, 512, 1e6, 1, 8192, false, true},
    {"evo2_40b", k40bPattern, 8192, 64, 22528, 512, 1e6, 128, 1048576, false, true},
    // bionemo --model-size names (docs/spec/predict-cli.md §4.2).
    {"1b", k1bPattern, 1920, 15, 5120, 128, 1e4, 1, 8192, false, false},
    {"1b_nv", k1bPattern, 1920, 15, 5120, 128, 1e4, 1, 8192, true, false},
    {"7b", k7bPattern, 4096, 32, 11008, 256, 1e4, 1, 8192, false, false},
    {"7b_arc_longcontext", k7bPattern, 4096, 32, 11264, 256, 1e4, 128, 1048576, false, false},
    {"7b_nv", k7bPattern, 4096, 32, 11264, 256, 1e6, 1, 8192, true, false},
    {"40b", k40bPattern, 8192, 64, 21888, 512, 1e6, 1, 8192, false, false},
    {"40b_arc_longcontext", k40bPattern, 8192, 64, 22528, 512, 1e6, 128, 1048576, false, false},
    {"40b_nv", k40bPattern, 8192, 64, 22528, 512, 1e6, 1, 8192, true, false},
    {"test", "SDH*", 4096, 32, 11008, 256, 1e4, 1, 8192, false, false},
    {"test_nv", "SDH*", 4096, 32, 11008, 256, 1e4, 1, 8192, true, false},
};

absl::Status UnknownPreset(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.emplace_back(p.name);
  for (std::string& n : hf::FamilyPresetNames()) names.push_back(std::move(n));
  return absl::NotFoundError(absl::StrCat("unknown model size '", std::string(name),
                                          "'; known: ", absl::StrJoin(names, ", ")));
}

}  // namespace

std::vector<std::string> PresetNames() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.emplace_back(p.name);
  return out;
}

absl::StatusOr<ModelConfig> ModelConfigPreset(std::string_view name) {
  for (const auto& p : kPresets) {
    if (name != p.name) continue;
    ModelConfig c;
    c.name = p.name;
    for (const char* q = p.pattern; *q; ++q) {
      c.block_kinds.push_back(*q == 'S'   ? BlockKind::kHcs
                              : *q == 'D' ? BlockKind::kHcm
                              : *q == 'H' ? BlockKind::kHcl
                                          : BlockKind::kAttn);
    }
    c.num_layers = static_cast<int>(c.block_kinds.size());
    c.hidden_size = p.hidden;
    c.num_heads = p.heads;
    c.inner_mlp_size = p.inner;
    c.hcs_filter_groups = p.groups;
    c.hcm_filter_groups = p.groups;
    c.rotary_base = p.rotary_base;
    c.rotary_position_scale = p.position_scale;
    c.max_seqlen = p.max_seqlen;
    c.fp8_input_projections = p.fp8;
    if (p.nv) {
      c.mlp_activation = MlpActivation::kNv;
      c.attn_out_proj_bias = false;
      c.hcs_conv_bias = true;
    }
    RETURN_IF_ERROR(internal::FinishConfig(c, p.name));
    return c;
  }
  if (std::optional<hf::FamilyPreset> preset = hf::FindFamilyPreset(name)) {
    hf::HfCheckpoint ckpt;
    ckpt.config = std::move(preset->config);
    ckpt.config_source = absl::StrCat("--model-size ", std::string(name));
    ModelConfig c;
    if (preset->family == ModelFamily::kLlama) {
      ASSIGN_OR_RETURN(const hf::LlamaConfig llama, hf::ParseLlamaConfig(ckpt));
      c = hf::ToModelConfig(llama);
    } else {
      ASSIGN_OR_RETURN(const hf::NemotronHConfig hybrid, hf::NemotronHConfigFromCheckpoint(ckpt));
      c = hf::ToModelConfig(hybrid);
    }
    c.name = std::string(name);
    if (auto ctx = hf::ConfigInt(ckpt, "max_position_embeddings"); ctx.ok()) c.max_seqlen = *ctx;
    return c;
  }
  return UnknownPreset(name);
}

absl::StatusOr<ModelFamily> PresetFamily(std::string_view name) {
  for (const auto& p : kPresets) {
    if (name == p.name) return ModelFamily::kHyena;
  }
  if (std::optional<hf::FamilyPreset> preset = hf::FindFamilyPreset(name)) return preset->family;
  return UnknownPreset(name);
}

}  // namespace evo2
