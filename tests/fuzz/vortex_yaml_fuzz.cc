// The vortex `config.yml` beside an Arc `.pt`, through the engine's reader, then what callers
// do with an accepted config (pattern, layer catalogue, layer-name parsing).
#include "evo2/config.h"
#include "fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = evo2::ModelConfigFromVortexYamlString(evo2::fuzz::AsText(data, size), "config.yml");
  if (!config.ok()) return 0;
  (void)evo2::CheckSupported(*config).ok();
  (void)config->Pattern();
  for (const std::string& name : evo2::LayerCatalogue(*config)) {
    if (!evo2::ParseLayerName(*config, name).ok()) std::abort();  // the catalogue's own names
  }
  return 0;
}
