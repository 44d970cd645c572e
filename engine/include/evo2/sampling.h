// Sampling settings of generation (evo2/generate.h has the algorithm). Separate and absl-only
// (library evo2_data) so that the service's API validates a generate job with the engine's own
// check without linking the engine.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace evo2 {

struct SamplingOptions {
  double temperature = 1.0;  // ≥ 0; 0 = greedy
  int top_k = 0;             // ≥ 0; 0 = no limit
  double top_p = 1.0;        // (0, 1]
  uint64_t seed = 0;
  std::string alphabet = "ACGT";  // candidate tokens (bytes); printable ASCII, no repeats
};

// INVALID_ARGUMENT naming the option and the allowed range.
absl::Status ValidateSamplingOptions(const SamplingOptions& options);

}  // namespace evo2
