// Which rows move where for the FIR halos of a CUDA engine group's context-parallel ranks
// (docs/parallelism.md §2); host logic only, so it is tested without a GPU (device_halo.h moves
// the bytes). A causal K-tap FIR over chunk k (positions k·Lc ..) needs the `halo` = K−1 inputs
// before it (zeros before position 0): 2 rows for the featurizer, 6 for hcs, 127 for hcm. The
// owner of chunk i sends its last `tail` = min(Lc, halo) rows to the owners of chunks
// i+1 .. i+reach, reach = ⌈halo / Lc⌉; each local chunk k then sits in a region of `region` rows:
//
//   region row  (i − k + reach)·Lc   chunk i's tail (i = k−reach .. k−1; none before chunk 0)
//               front ..             the halo rows proper (zeros before position 0)
//               front + halo ..      the chunk's own Lc rows
//
// with front = (reach − 1)·Lc + tail − halo (0 when Lc ≥ halo). The existing FIR kernels run
// unchanged on the halo + Lc rows from `front`, and the caller keeps the last Lc rows.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/sequence_split.h"

namespace evo2::cuda {

struct HaloLayout {
  int64_t Lc = 0, halo = 0, tail = 0, reach = 0, front = 0, region = 0;
};

HaloLayout MakeHaloLayout(int64_t chunk_tokens, int64_t halo);

// One message of the halo exchange, in rows: `rows` rows from local row `local_row` (a send) or
// into row `region_row` of local chunk `chunk_index`'s region (a receive).
struct HaloMessage {
  int peer = 0;
  int64_t tag = 0;
  int64_t local_row = 0;   // sends
  int chunk_index = 0;     // receives: which of the rank's chunks (split.ChunksOf order)
  int64_t region_row = 0;  // receives
  int64_t rows = 0;
};

struct HaloPlan {
  std::vector<HaloMessage> sends, recvs;  // each sorted by tag (NCCL pairs a peer's by order)
};

HaloPlan MakeHaloPlan(const parallel::SequenceSplit& split, int rank, const HaloLayout& layout);

}  // namespace evo2::cuda
