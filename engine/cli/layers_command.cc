// `evo2 layers`: the layer names `evo2 predict --embedding-layers` accepts for a model, from a
// preset (--model-size) or from a checkpoint's own config (--ckpt-dir), without loading weights.
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine_commands.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"

namespace evo2::cli {
namespace {

absl::StatusOr<ModelConfig> ConfigOf(const std::string& model_size,
                                     const std::filesystem::path& ckpt) {
  if (ckpt.empty()) return ModelConfigPreset(model_size);
  ASSIGN_OR_RETURN(const CheckpointDescription d, DescribeCheckpoint(ckpt));
  switch (d.config_source) {
    case ConfigSource::kVortexYaml:
      return ModelConfigFromVortexYaml(*d.config);
    case ConfigSource::kNemoModelYaml:
      if (d.family == ModelFamily::kHyena) return ModelConfigFromNemoYaml(*d.config);
      [[fallthrough]];
    case ConfigSource::kHfConfigJson:
      // HF families (also in NeMo2 form) name whole layers only; their config needs the family's
      // own parser.
      return absl::UnimplementedError(absl::StrCat(
          ckpt.string(), " is a ", ModelFamilyName(d.family),
          " checkpoint: its capturable layers are embedding_layer, blocks.B / decoder.layers.B "
          "and norm (B below its number of layers)"));
    case ConfigSource::kNone:
      break;
  }
  return absl::NotFoundError(absl::StrCat("checkpoint ", ckpt.string(),
                                          " has no config.yml, config.yaml or context/model.yaml; "
                                          "use --model-size"));
}

}  // namespace

void AddLayersCommand(CLI::App& app) {
  struct Args {
    std::string model_size;
    std::filesystem::path ckpt_dir;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "layers", "List the layer names whose activations `evo2 predict --embedding-layers` can "
                "write (vortex style first, then NeMo style)");
  auto* size = cmd->add_option("--model-size", args->model_size, "Preset, e.g. 7b or evo2_7b");
  auto* ckpt = cmd->add_option("--ckpt-dir", args->ckpt_dir, "Checkpoint with its own config");
  size->excludes(ckpt);
  cmd->callback([args, size, ckpt]() {
    if (size->count() == 0 && ckpt->count() == 0) {
      std::cerr << "evo2 layers: error: give --model-size or --ckpt-dir\n";
      throw CLI::RuntimeError(2);
    }
    auto config = ConfigOf(args->model_size, args->ckpt_dir);
    if (!config.ok()) {
      std::cerr << "evo2 layers: error: " << config.status().message() << std::endl;
      throw CLI::RuntimeError(1);
    }
    // The HF families' common view has no Hyena layer kinds: their presets print the family.
    const std::string kinds = config->family == ModelFamily::kHyena
                                  ? "pattern " + config->Pattern()
                                  : std::string(ModelFamilyName(config->family));
    std::cout << "# " << config->name << ": " << config->num_layers << " layers, " << kinds
              << ", hidden " << config->hidden_size << "\n";
    for (const std::string& name : LayerCatalogue(*config)) std::cout << name << "\n";
  });
}

}  // namespace evo2::cli
