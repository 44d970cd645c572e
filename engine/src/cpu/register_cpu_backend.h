// The "cpu" entry of the backend registry (evo2/backend_registry.h).
#pragma once

#include "evo2/backend_registry.h"

namespace evo2::cpu {

BackendFactory MakeCpuBackendFactory();

}  // namespace evo2::cpu
