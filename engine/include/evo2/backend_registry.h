// Backends by (model family, device): LoadModel finds the checkpoint's family (evo2/config.h
// ModelFamily) and asks here for that family's loader on the requested device (evo2/device.h).
// This registry is the one place where a load is dispatched; a missing combination is a
// NotFound naming both ("the Llama family has no 'cuda' backend in this build (available:
// cpu)").
//
// The engine registers its own CPU loaders (every family) on first use of the registry. Other
// backends are registered explicitly by the program that links them, e.g. main() calls
// RegisterCudaBackend() from the CUDA library; nothing relies on static initialisers, which a
// static library may drop at link time.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/model.h"

namespace evo2 {

// Loads a model of one family onto one device from options.checkpoint. Returns an error (e.g.
// "no CUDA device present") instead of crashing.
using ModelLoader =
    std::function<absl::StatusOr<std::unique_ptr<Model>>(const LoadOptions& options)>;

// Registers (or replaces) the loader for (`family`, `device`). Thread-safe.
void RegisterModelLoader(ModelFamily family, Device device, ModelLoader loader);

// The loader for (`family`, `device`); NotFound naming the family, the device and the devices
// the family has otherwise.
absl::StatusOr<ModelLoader> FindModelLoader(ModelFamily family, Device device);

// The devices `family` can be loaded on, in enum order.
std::vector<Device> RegisteredDevices(ModelFamily family);

// Evo 2 (ModelFamily::kHyena) backends share reading the checkpoint, building and validating
// the config; a backend only builds the Model from them. The factory may take the checkpoint's
// tensors (it is passed by value so that a backend can release host copies early).
using BackendFactory = std::function<absl::StatusOr<std::unique_ptr<Model>>(
    const ModelConfig& config, Checkpoint checkpoint, const LoadOptions& options)>;

// Registers `factory` as the Evo 2 loader for `device` (the shared steps, then the factory).
void RegisterBackend(Device device, BackendFactory factory);

}  // namespace evo2
