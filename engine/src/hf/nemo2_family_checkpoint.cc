#include "hf/nemo2_family_checkpoint.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/status_macros.h"
#include "hf/family_presets.h"
#include "hf/llama_config.h"
#include "hf/nemo2_family_config.h"
#include "hf/nemo2_family_names.h"
#include "hf/nemotron_h_config.h"
#include "io/nemo2_reader.h"

namespace evo2::hf {
namespace {

struct Field {
  const char* name;
  double preset, checkpoint;
};

absl::Status FirstDifference(const std::vector<Field>& fields, const std::string& name,
                             const HfCheckpoint& ckpt) {
  for (const Field& f : fields) {
    if (f.preset != f.checkpoint) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--model-size ", name, " has ", f.name, " ", f.preset, " but ", ckpt.ConfigName(),
          " has ", f.checkpoint, ": the preset does not describe this checkpoint"));
    }
  }
  return absl::OkStatus();
}

absl::Status CompareLlama(const HfCheckpoint& preset, const HfCheckpoint& ckpt,
                          const std::string& name) {
  ASSIGN_OR_RETURN(const LlamaConfig a, ParseLlamaConfig(preset));
  ASSIGN_OR_RETURN(const LlamaConfig b, ParseLlamaConfig(ckpt));
  return FirstDifference(
      {{"num_layers", double(a.num_layers), double(b.num_layers)},
       {"hidden_size", double(a.hidden_size), double(b.hidden_size)},
       {"vocab_size", double(a.vocab_size), double(b.vocab_size)},
       {"attention heads", double(a.num_heads), double(b.num_heads)},
       {"KV heads", double(a.num_kv_heads), double(b.num_kv_heads)},
       {"head_dim", double(a.head_dim), double(b.head_dim)},
       {"MLP width", double(a.intermediate_size), double(b.intermediate_size)},
       {"norm epsilon", a.rms_norm_eps, b.rms_norm_eps},
       {"tied embeddings", double(a.tie_word_embeddings), double(b.tie_word_embeddings)},
       {"RoPE base", a.rope.theta, b.rope.theta},
       {"llama3 RoPE rule", double(a.rope.llama3), double(b.rope.llama3)},
       {"RoPE scale factor", a.rope.factor, b.rope.factor},
       {"RoPE low_freq_factor", a.rope.low_freq_factor, b.rope.low_freq_factor},
       {"RoPE high_freq_factor", a.rope.high_freq_factor, b.rope.high_freq_factor},
       {"RoPE original context", a.rope.original_context, b.rope.original_context}},
      name, ckpt);
}

absl::Status CompareNemotronH(const HfCheckpoint& preset, const HfCheckpoint& ckpt,
                              const std::string& name) {
  ASSIGN_OR_RETURN(const NemotronHConfig a, NemotronHConfigFromCheckpoint(preset));
  ASSIGN_OR_RETURN(const NemotronHConfig b, NemotronHConfigFromCheckpoint(ckpt));
  if (a.Pattern() != b.Pattern()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--model-size ", name, " has layer pattern ", a.Pattern(), " but ", ckpt.ConfigName(),
        " has ", b.Pattern(), ": the preset does not describe this checkpoint"));
  }
  return FirstDifference(
      {{"hidden_size", double(a.hidden_size), double(b.hidden_size)},
       {"vocab_size", double(a.vocab_size), double(b.vocab_size)},
       {"Mamba heads", double(a.mamba_num_heads), double(b.mamba_num_heads)},
       {"Mamba head dim", double(a.mamba_head_dim), double(b.mamba_head_dim)},
       {"SSM groups", double(a.n_groups), double(b.n_groups)},
       {"SSM state size", double(a.ssm_state_size), double(b.ssm_state_size)},
       {"conv width", double(a.conv_kernel), double(b.conv_kernel)},
       {"attention heads", double(a.num_attention_heads), double(b.num_attention_heads)},
       {"KV heads", double(a.num_key_value_heads), double(b.num_key_value_heads)},
       {"head_dim", double(a.attention_head_dim), double(b.attention_head_dim)},
       {"MLP width", double(a.intermediate_size), double(b.intermediate_size)},
       {"norm epsilon", double(a.eps), double(b.eps)},
       {"tied embeddings", double(a.tie_word_embeddings), double(b.tie_word_embeddings)}},
      name, ckpt);
}

absl::StatusOr<FamilyPreset> PresetOf(ModelFamily family, const std::string& name) {
  std::optional<FamilyPreset> preset = FindFamilyPreset(name);
  if (!preset || preset->family != family) {
    std::vector<std::string> names;
    for (const std::string& n : FamilyPresetNames()) {
      if (FindFamilyPreset(n)->family == family) names.push_back(n);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("--model-size ", name, " is not a ", ModelFamilyName(family),
                     " preset (those are: ", absl::StrJoin(names, ", "), ")"));
  }
  return *std::move(preset);
}

}  // namespace

absl::Status CheckPresetAgrees(const HfCheckpoint& ckpt, ModelFamily family,
                               const std::string& name) {
  ASSIGN_OR_RETURN(FamilyPreset preset, PresetOf(family, name));
  HfCheckpoint p;
  p.dir = ckpt.dir;
  p.config = std::move(preset.config);
  p.config_source = absl::StrCat("--model-size ", name);
  return family == ModelFamily::kLlama ? CompareLlama(p, ckpt, name)
                                       : CompareNemotronH(p, ckpt, name);
}

absl::StatusOr<HfCheckpoint> LoadNemo2FamilyCheckpoint(
    const std::filesystem::path& dir, ModelFamily family,
    const std::optional<std::string>& model_size) {
  if (family != ModelFamily::kLlama && family != ModelFamily::kNemotronH) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), ": not a Llama or NemotronH checkpoint"));
  }
  ASSIGN_OR_RETURN(io::Nemo2Weights weights, io::ReadNemo2Weights(dir));
  HfCheckpoint ckpt;
  ckpt.dir = dir;
  if (weights.model_yaml) {
    ASSIGN_OR_RETURN(ckpt.config, HfConfigFromNemo2ModelYaml(*weights.model_yaml, family));
    ckpt.config_source = weights.model_yaml->string();
  } else if (model_size) {
    ASSIGN_OR_RETURN(FamilyPreset preset, PresetOf(family, *model_size));
    ckpt.config = std::move(preset.config);
    ckpt.config_source = absl::StrCat("--model-size ", *model_size);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), ": a NeMo2 checkpoint without context/model.yaml; ",
                     "pass --model-size (", absl::StrJoin(FamilyPresetNames(), ", "), ")"));
  }
  ckpt.architecture = ckpt.config["architectures"][0].get<std::string>();
  const std::string where = dir.string();
  if (family == ModelFamily::kLlama) {
    ASSIGN_OR_RETURN(const LlamaConfig config, ParseLlamaConfig(ckpt));
    ASSIGN_OR_RETURN(ckpt.tensors,
                     MapLlamaNemo2ToHf(weights.tensors, config, where, ckpt.ConfigName()));
  } else {
    ASSIGN_OR_RETURN(const NemotronHConfig config, NemotronHConfigFromCheckpoint(ckpt));
    ASSIGN_OR_RETURN(ckpt.tensors,
                     MapNemotronHNemo2ToHf(weights.tensors, config, where, ckpt.ConfigName()));
  }
  return ckpt;
}

}  // namespace evo2::hf
