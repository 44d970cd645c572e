// The Evo 2 family's cpu backend in the registry (evo2/backend_registry.h).
#pragma once

#include "evo2/backend_registry.h"

namespace evo2::cpu {

BackendFactory MakeCpuBackendFactory();

}  // namespace evo2::cpu
