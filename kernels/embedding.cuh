// Token embedding (docs/spec/model.md §5): out[r, :] = table[ids[r], :].
// Ids are validated by the caller before upload (0 <= id < vocab); an out-of-range id on the
// device is clamped so that a caller bug cannot read outside the table.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// ids: [rows] int32 (device); table: [vocab, H] T; out: [rows, H] T.
template <typename T>
absl::Status LaunchEmbedding(const int32_t* ids, const T* table, T* out, int64_t rows,
                             int64_t hidden, int64_t vocab, cudaStream_t stream);

}  // namespace evo2::kernels
