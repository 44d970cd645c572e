// torch.distributed.checkpoint `.metadata` (docs/spec/checkpoints.md §8): which tensors a DCP
// checkpoint holds (dtype, global shape, chunks) and where each chunk's bytes are
// (`__R_N.distcp` file, offset, length). Interpreted from the generic pickle by class name, so
// module moves between torch versions do not matter; unknown fields are ignored.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2::io {

struct DcpChunk {
  std::vector<int64_t> offsets;  // into the global tensor, per dim
  std::vector<int64_t> sizes;
};

struct DcpTensor {
  std::string fqn;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> size;  // global shape
  std::vector<DcpChunk> chunks;
};

struct DcpItemLocation {
  std::string relative_path;  // a plain file name inside the weights directory
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct DcpMetadata {
  std::vector<DcpTensor> tensors;       // in file order
  std::vector<std::string> byte_items;  // BytesStorageMetadata keys (e.g. `…/_extra_state/shard_0_1`)
  // (fqn, chunk offsets) -> location of that chunk's item.
  std::map<std::pair<std::string, std::vector<int64_t>>, DcpItemLocation> locations;
};

// `where` names the file in errors.
absl::StatusOr<DcpMetadata> ParseDcpMetadata(std::span<const std::byte> bytes, const std::string& where);

}  // namespace evo2::io
