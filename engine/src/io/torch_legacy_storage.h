// One storage in torch's legacy (pre-zip) `torch.save` format: what `pickle.dumps` of a tensor
// embeds, because torch pickles a storage as `torch.storage._load_from_bytes(<these bytes>)`
// (docs/spec/checkpoints.md §14). The bytes are five pickles back to back, then the data:
//
//   magic number 0x1950a86a20f9469cfc6c | protocol version 1001 | sys_info dict
//   | the storage as a persistent id ("storage", torch.<Type>Storage, key, location, numel, None)
//   | the list of storage keys [key] | int64 little-endian numel | numel elements, little-endian
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2::io {

struct LegacyStorage {
  DType dtype = DType::kUInt8;
  int64_t numel = 0;
  std::vector<std::byte> data;  // [numel] elements of dtype, little-endian
};

// `where` names the stream in errors. Only the globals torch writes there are accepted
// (torch.<Type>Storage); anything else is an error naming the global.
absl::StatusOr<LegacyStorage> ReadLegacyTorchStorage(std::span<const std::byte> bytes,
                                                     const std::string& where);

}  // namespace evo2::io
