// Device -> backend factory. Device::kCpu is added on first use (see cpu/register_cpu_backend.h).
#include "evo2/backend_registry.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cpu/register_cpu_backend.h"

namespace evo2 {

namespace {

struct Registry {
  std::mutex mu;
  std::map<Device, BackendFactory> factories;
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->factories.emplace(Device::kCpu, cpu::MakeCpuBackendFactory());
    return r;
  }();
  return *registry;
}

}  // namespace

void RegisterBackend(Device device, BackendFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  r.factories[device] = std::move(factory);
}

absl::StatusOr<BackendFactory> FindBackend(Device device) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  auto it = r.factories.find(device);
  if (it != r.factories.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [d, f] : r.factories) names.push_back(DeviceName(d));
  const char* name = DeviceName(device);
  std::string what = device == Device::kCuda ? "this build has no CUDA backend"
                                             : absl::StrCat("no backend '", name, "'");
  return absl::NotFoundError(absl::StrCat("device '", name, "' requested but ", what,
                                          " (available: ", absl::StrJoin(names, ", "), ")"));
}

std::vector<Device> RegisteredBackends() {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  std::vector<Device> devices;
  for (const auto& [d, f] : r.factories) devices.push_back(d);
  return devices;
}

}  // namespace evo2
