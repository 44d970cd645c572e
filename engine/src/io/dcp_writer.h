// Writes a torch.distributed.checkpoint directory (docs/spec/checkpoints.md §8–§9): `.metadata`
// (the pickled Metadata that dcp_metadata.cc reads, built from the same classes torch writes)
// and one `__R_0.distcp` file per saving rank holding that rank's chunks, each a torch.save of
// the chunk. Used to write NeMo2 checkpoints and LoRA adapters (tests, conversions), and to
// emulate a TP-sharded save: with `ranks` > 1 every tensor whose first dimension divides evenly
// is split along it across the ranks, the others are saved whole by rank 0. A `planner` lays
// the chunks out as a particular saver does instead (e.g. Megatron's per-layer chunks of stacked
// layers, row-parallel splits on dim 1, the GLU fc1's gate/up chunks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "evo2/torch_pt.h"

namespace evo2::io {

// One stored piece of a tensor: the saving rank (file `__<rank>_0.distcp`) and its box in the
// global tensor.
struct DcpChunkPlan {
  int rank = 0;
  std::vector<int64_t> offsets, sizes;
};

struct DcpWriteOptions {
  int ranks = 1;
  // When set, gives every tensor's chunks (ranks in [0, ranks), boxes inside the tensor; the
  // writer checks both, the reader checks that they tile the tensor).
  std::function<std::vector<DcpChunkPlan>(const std::string& fqn, const Tensor& tensor)> planner =
      nullptr;
};

// `weights_dir` is created if missing; existing `.metadata`/`.distcp` files in it are replaced.
// `byte_items` (BytesStorageMetadata), e.g. `module.….linear_fc1._extra_state/shard_0_1` -> the
// module's uint8 extra-state tensor, are each stored as torch.save([tensor]) like Megatron's, in
// rank 0's file before its tensors.
absl::Status WriteDcpCheckpoint(const std::filesystem::path& weights_dir,
                                const NamedTensors& tensors, const DcpWriteOptions& options = {},
                                const NamedTensors& byte_items = {});

}  // namespace evo2::io
