#include "ops/embedding.h"

#include <algorithm>

namespace evo2::ops {

void Embed(std::span<const int32_t> tokens, const float* embedding, int64_t H, float* x) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::copy_n(embedding + static_cast<int64_t>(tokens[t]) * H, H,
                x + static_cast<int64_t>(t) * H);
  }
}

}  // namespace evo2::ops
