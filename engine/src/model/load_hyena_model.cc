// Evo 2 checkpoints: checkpoint -> config -> validation -> the device's backend factory.
//
// Config source, in order: the vortex `config.yml` beside a `.pt`; else the NeMo2
// `context/model.yaml`; else the `--model-size` preset. When a preset name is given together
// with a YAML, both must describe the same architecture (the YAML wins for the numbers that do
// not change the math, e.g. the rotary base, which vortex takes from the stored inv_freq).
#include "model/load_hyena_model.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"
#include "model/lora_adapter.h"

namespace evo2 {

namespace {

absl::Status Annotate(const absl::Status& s, std::string_view what) {
  return absl::Status(s.code(), absl::StrCat(std::string(what), ": ", s.message()));
}

absl::StatusOr<ModelConfig> ConfigFor(const Checkpoint& ckpt, const LoadOptions& options) {
  std::optional<ModelConfig> preset;
  if (options.model_size) {
    ASSIGN_OR_RETURN(preset, ModelConfigPreset(*options.model_size));
    preset->inner_mlp_size = 0;  // read from the tensors (padded 1M MLPs, docs/spec/model.md §2)
  }
  std::optional<ModelConfig> from_yaml;
  std::string yaml_source;
  if (ckpt.config_yaml) {
    ASSIGN_OR_RETURN(from_yaml, ModelConfigFromVortexYaml(*ckpt.config_yaml));
    yaml_source = ckpt.config_yaml->string();
  } else if (ckpt.nemo_model_yaml) {
    ASSIGN_OR_RETURN(from_yaml, ModelConfigFromNemoYaml(*ckpt.nemo_model_yaml));
    yaml_source = ckpt.nemo_model_yaml->string();
  }
  if (from_yaml && preset) {
    RETURN_IF_ERROR(CheckConfigsAgree(*preset, absl::StrCat("--model-size ", *options.model_size),
                                      *from_yaml, yaml_source));
  }
  if (from_yaml) return *from_yaml;
  if (preset) return *preset;
  return absl::InvalidArgumentError(absl::StrCat(
      "checkpoint ", ckpt.path.string(),
      " has no config.yml / context/model.yaml; pass --model-size (e.g. 7b_arc_longcontext)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> LoadHyenaModel(const LoadOptions& options,
                                                      const BackendFactory& factory) {
  // Transformer Engine's stored FP8 scales are read only when they will be used (fp8.md).
  CheckpointReadOptions read;
  read.te_fp8_scales =
      options.fp8 != Fp8Mode::kOff && options.fp8_stored_scales && !options.lora_adapter;
  ASSIGN_OR_RETURN(auto ckpt, LoadCheckpoint(options.checkpoint, read));
  if (options.lora_adapter) {
    ASSIGN_OR_RETURN(const LoraAdapter adapter, LoadLoraAdapter(*options.lora_adapter));
    RETURN_IF_ERROR(MergeLoraAdapter(adapter, ckpt.tensors));
  }
  ASSIGN_OR_RETURN(auto config, ConfigFor(ckpt, options));
  RETURN_IF_ERROR(CheckSupported(config));
  const std::string where = ckpt.path.string();
  if (auto s = ResolveFromTensors(config, ckpt.tensors); !s.ok()) return Annotate(s, where);
  if (auto s = ValidateTensors(config, ckpt.tensors); !s.ok()) return Annotate(s, where);
  return factory(config, std::move(ckpt), options);
}

}  // namespace evo2
