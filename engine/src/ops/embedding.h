// Token embedding (docs/spec/model.md §5): x0 = E[ids], no position embedding, no scale.
#pragma once

#include <cstdint>
#include <span>

namespace evo2::ops {

// tokens must be in [0, V) (checked by the caller); E [V, H]; x [S, H].
void Embed(std::span<const int32_t> tokens, const float* embedding, int64_t H, float* x);

}  // namespace evo2::ops
