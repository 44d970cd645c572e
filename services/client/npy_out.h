// Writes a result tensor as a .npy file with the engine's writer (evo2/npy.h) so that numpy
// users can np.load() it. bfloat16 has no numpy dtype: it is widened to float32 on write.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/v1/results.pb.h"

namespace evo2::client {

absl::Status WriteNpy(const std::filesystem::path& path, const evo2::v1::Tensor& tensor);

// The same .npy file's bytes (for downloads over HTTP).
absl::StatusOr<std::string> NpyBytes(const evo2::v1::Tensor& tensor);

}  // namespace evo2::client
