// Random fp32 weights of realistic scale for a config (benchmarks only; no checkpoint needed).
#pragma once

#include <cstdint>

#include "cpu/cpu_weights.h"
#include "evo2/config.h"

namespace evo2::bench {

// Uniform weights with std 1/sqrt(fan_in) for matrices, scales near 1, decaying hcl modes.
cpu::Weights RandomWeights(const ModelConfig& config, uint64_t seed);

}  // namespace evo2::bench
