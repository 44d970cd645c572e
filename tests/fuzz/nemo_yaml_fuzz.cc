// A NeMo2 checkpoint's `context/model.yaml`, through the engine's reader, then what callers do
// with an accepted config (agreement with a preset, layer catalogue).
#include "evo2/config.h"
#include "fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = evo2::ModelConfigFromNemoYamlString(evo2::fuzz::AsText(data, size), "model.yaml");
  if (!config.ok()) return 0;
  (void)evo2::CheckSupported(*config).ok();
  static const auto preset = evo2::ModelConfigPreset("test");
  if (preset.ok()) (void)evo2::CheckConfigsAgree(*preset, "preset", *config, "model.yaml").ok();
  for (const std::string& name : evo2::LayerCatalogue(*config)) {
    if (!evo2::ParseLayerName(*config, name).ok()) std::abort();  // the catalogue's own names
  }
  return 0;
}
