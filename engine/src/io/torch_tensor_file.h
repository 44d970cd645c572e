// torch.save of a single tensor (the pickle's root is the tensor, not a dict): the form of each
// item in a torch.distributed.checkpoint `.distcp` file (docs/spec/checkpoints.md §9).
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "evo2/tensor.h"

namespace evo2::io {

// Writes atomically; `name` appears only in errors. Layout as WriteTorchPt's (evo2/torch_pt.h).
absl::Status WriteTorchTensorFile(const std::filesystem::path& path, const std::string& name,
                                  const Tensor& tensor);

// torch.save([tensor]): a one-element list, the form Megatron saves a module's `_extra_state` in
// as a DCP byte item (docs/spec/checkpoints.md §14).
absl::Status WriteTorchTensorListFile(const std::filesystem::path& path, const std::string& name,
                                      const Tensor& tensor);

}  // namespace evo2::io
