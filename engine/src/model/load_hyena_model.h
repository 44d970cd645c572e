// The steps every Evo 2 (StripedHyena) backend shares: read the checkpoint, build the config,
// check the tensors against it; then the backend's factory builds the Model.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "evo2/backend_registry.h"
#include "evo2/model.h"

namespace evo2 {

absl::StatusOr<std::unique_ptr<Model>> LoadHyenaModel(const LoadOptions& options,
                                                      const BackendFactory& factory);

}  // namespace evo2
