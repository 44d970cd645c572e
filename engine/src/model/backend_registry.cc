// (family, device) -> model loader. The engine's CPU loaders are added on first use.
#include "evo2/backend_registry.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cpu/register_cpu_backend.h"
#include "hf/hf_families.h"
#include "model/load_hyena_model.h"

namespace evo2 {

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::pair<ModelFamily, Device>, ModelLoader> loaders;
};

ModelLoader HyenaLoader(BackendFactory factory) {
  return [factory = std::move(factory)](const LoadOptions& options) {
    return LoadHyenaModel(options, factory);
  };
}

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->loaders.emplace(std::pair(ModelFamily::kHyena, Device::kCpu),
                       HyenaLoader(cpu::MakeCpuBackendFactory()));
    r->loaders.emplace(std::pair(ModelFamily::kLlama, Device::kCpu), hf::LoadLlamaModel);
    r->loaders.emplace(std::pair(ModelFamily::kNemotronH, Device::kCpu), hf::LoadNemotronHModel);
    return r;
  }();
  return *registry;
}

std::vector<Device> DevicesLocked(const Registry& r, ModelFamily family) {
  std::vector<Device> devices;
  for (const auto& [key, loader] : r.loaders) {
    if (key.first == family) devices.push_back(key.second);
  }
  return devices;
}

}  // namespace

void RegisterModelLoader(ModelFamily family, Device device, ModelLoader loader) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  r.loaders[std::pair(family, device)] = std::move(loader);
}

absl::StatusOr<ModelLoader> FindModelLoader(ModelFamily family, Device device) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  auto it = r.loaders.find(std::pair(family, device));
  if (it != r.loaders.end()) return it->second;
  std::vector<std::string> names;
  for (Device d : DevicesLocked(r, family)) names.push_back(DeviceName(d));
  return absl::NotFoundError(absl::StrCat(
      "the ", ModelFamilyName(family), " family has no '", DeviceName(device),
      "' backend in this build (available: ", names.empty() ? "none" : absl::StrJoin(names, ", "),
      ")"));
}

std::vector<Device> RegisteredDevices(ModelFamily family) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  return DevicesLocked(r, family);
}

void RegisterBackend(Device device, BackendFactory factory) {
  RegisterModelLoader(ModelFamily::kHyena, device, HyenaLoader(std::move(factory)));
}

}  // namespace evo2
