// safetensors files (https://github.com/huggingface/safetensors, format "Format" section):
// u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {str: str}}, then the tensor bytes. The plain output format for users outside
// Python (`evo2 predict --output-format safetensors`), and the reader for HF checkpoints.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "evo2/torch_pt.h"

namespace evo2 {

// Writes atomically (temporary file + rename); tensors keep their order in the header and data.
absl::Status WriteSafetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in data order; views of the memory-mapped file
  std::map<std::string, std::string> metadata;
};

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::filesystem::path& path);

}  // namespace evo2
