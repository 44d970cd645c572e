// Backends by device (evo2/device.h): LoadModel looks the requested device up here.
//
// Device::kCpu is registered by the engine itself (on first use of the registry). Other backends
// are registered explicitly by the program that links them, e.g. main() calls RegisterCudaBackend()
// from the CUDA library; nothing relies on static initialisers, which a static library may drop at
// link time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/model.h"

namespace evo2 {

// Builds a Model from a validated config and a loaded checkpoint. The factory may take the
// checkpoint's tensors (it is passed by value so that a backend can release host copies early).
// It returns an error (e.g. "no CUDA device present") instead of crashing.
using BackendFactory = std::function<absl::StatusOr<std::unique_ptr<Model>>(
    const ModelConfig& config, Checkpoint checkpoint, const LoadOptions& options)>;

// Registers (or replaces) the factory for `device`. Thread-safe.
void RegisterBackend(Device device, BackendFactory factory);

// The factory for `device`; NotFound naming the device and the registered ones otherwise
// ("device 'cuda' requested but this build has no CUDA backend (available: cpu)").
absl::StatusOr<BackendFactory> FindBackend(Device device);

// Registered devices, in enum order.
std::vector<Device> RegisteredBackends();

}  // namespace evo2
