// Assembles global tensors from a torch.distributed.checkpoint directory: each chunk is a
// complete torch.save zip at (offset, length) of a `__R_N.distcp` file (docs/spec/checkpoints.md
// §2, §9); chunks from several saving (TP) ranks are placed by their offsets.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/torch_pt.h"
#include "io/dcp_metadata.h"

namespace evo2::io {

// Reads every tensor of `metadata` for which `wanted(fqn)` is true, in metadata order.
// Errors name the tensor and the file.
absl::StatusOr<NamedTensors> ReadDcpTensors(const std::filesystem::path& weights_dir,
                                            const DcpMetadata& metadata,
                                            const std::function<bool(const std::string&)>& wanted);

// The bytes of a byte item (BytesStorageMetadata, e.g. `…/_extra_state/shard_0_1`) as stored in
// its `.distcp` file. Errors name the item and the file.
absl::StatusOr<std::vector<std::byte>> ReadDcpByteItem(const std::filesystem::path& weights_dir,
                                                       const DcpMetadata& metadata,
                                                       const std::string& fqn);

}  // namespace evo2::io
