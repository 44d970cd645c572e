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

// Writes atomically (temporary file + rename). Archive root name as torch uses ("archive").
absl::Status WriteTorchPt(const std::filesystem::path& path, const NamedTensors& tensors);

// Reads a torch.save file whose top-level object is a dict of tensors, in file order.
absl::StatusOr<NamedTensors> ReadTorchPt(const std::filesystem::path& path);

}  // namespace evo2
