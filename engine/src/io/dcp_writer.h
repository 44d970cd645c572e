// Writes a torch.distributed.checkpoint directory (docs/spec/checkpoints.md §8–§9): `.metadata`
// (the pickled Metadata that dcp_metadata.cc reads, built from the same classes torch writes)
// and one `__R_0.distcp` file per saving rank holding that rank's chunks, each a torch.save of
// the chunk. Used to write NeMo2 checkpoints and LoRA adapters (tests, conversions), and to
// emulate a TP-sharded save: with `ranks` > 1 every tensor whose first dimension divides evenly
// is split along it across the ranks, the others are saved whole by rank 0.
#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "evo2/torch_pt.h"

namespace evo2::io {

struct DcpWriteOptions {
  int ranks = 1;
};

// `weights_dir` is created if missing; existing `.metadata`/`.distcp` files in it are replaced.
// `byte_items` (BytesStorageMetadata), e.g. `module.….linear_fc1._extra_state/shard_0_1` -> the
// module's uint8 extra-state tensor, are each stored as torch.save([tensor]) like Megatron's, in
// rank 0's file before its tensors.
absl::Status WriteDcpCheckpoint(const std::filesystem::path& weights_dir,
                                const NamedTensors& tensors, const DcpWriteOptions& options = {},
                                const NamedTensors& byte_items = {});

}  // namespace evo2::io
