// FIR halos under context parallelism (docs/parallelism.md §2). A causal K-tap FIR at position
// t reads inputs t−K+1..t, so a chunk starting at position k·Lc needs the K−1 inputs before it
// (zeros before position 0) from the owners of the preceding chunks: 2 rows for the featurizer,
// 6 for hcs, 127 for hcm. With Lc ≥ K−1 that is the previous chunk's tail alone; shorter chunks
// (short sequences, many ranks) take rows from as many earlier chunks as needed.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "evo2/communicator.h"
#include "parallel/sequence_split.h"

namespace evo2::parallel {

// local [L, width]: this rank's rows (split.LocalRows(), chunk after chunk). For each local
// chunk j, out[j] = [halo rows ; the chunk's Lc rows] as [halo + Lc, width]. `cp` is the
// context-parallel communicator (its rank is this rank's CP rank); a collective.
absl::Status ChunksWithHalo(const SequenceSplit& split, Communicator& cp, const float* local,
                            int64_t width, int64_t halo, std::vector<std::vector<float>>& out);

}  // namespace evo2::parallel
