// The tensors a config implies (docs/spec/model.md §9), in vortex names. Internal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evo2/config.h"

namespace evo2::internal {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // rotary inv_freq: recomputed from the base when absent
};

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

}  // namespace evo2::internal
