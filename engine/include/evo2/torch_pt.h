// PyTorch `torch.save` files holding a flat dict name -> tensor (zip container, protocol-2
// pickle, one storage per tensor). Written by `evo2 predict` as `predictions__rank_N.pt`
// (loadable with torch.load), and read back by tests.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2 {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;  // insertion order kept

// Writes atomically (temporary file + rename). The layout is PyTorch 2.x's: archive root named
// after the file (torch.save("x.pt") -> "x/"), members data.pkl, .format_version,
// .storage_alignment, byteorder, data/0..N-1, version, .data/serialization_id, each 64-byte
// aligned; data.pkl is byte-identical to what torch.save pickles for the same dict. The
// serialization id is derived from the content (torch's is random), so equal inputs give equal files.
absl::Status WriteTorchPt(const std::filesystem::path& path, const NamedTensors& tensors);

// Reads a torch.save file whose top-level object is a dict (or OrderedDict) of tensors, in file
// order. Contiguous tensors view the memory-mapped file; strided ones are copied.
absl::StatusOr<NamedTensors> ReadTorchPt(const std::filesystem::path& path);

}  // namespace evo2
