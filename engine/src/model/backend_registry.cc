// Device name -> backend factory. "cpu" is added on first use (see cpu/register_cpu_backend.h).
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
  std::map<std::string, BackendFactory, std::less<>> factories;
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->factories.emplace("cpu", cpu::MakeCpuBackendFactory());
    return r;
  }();
  return *registry;
}

}  // namespace

void RegisterBackend(std::string device, BackendFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  r.factories[std::move(device)] = std::move(factory);
}

absl::StatusOr<BackendFactory> FindBackend(std::string_view device) {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  auto it = r.factories.find(device);
  if (it != r.factories.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [n, f] : r.factories) names.push_back(n);
  std::string what = device == "cuda" ? "this build has no CUDA backend"
                                      : absl::StrCat("no backend '", std::string(device), "'");
  return absl::NotFoundError(absl::StrCat("device '", std::string(device), "' requested but ", what,
                                          " (available: ", absl::StrJoin(names, ", "), ")"));
}

std::vector<std::string> RegisteredBackends() {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

}  // namespace evo2
