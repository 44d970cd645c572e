#pragma once

#include "absl/status/statusor.h"

namespace evo2::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
absl::StatusOr<int> PickFreePort();

}  // namespace evo2::testing
