// What the cuda backend's golden tests share (cuda_golden_test, cuda_llama_golden_test,
// cuda_nemotron_h_golden_test, cuda_decode_golden_test): the GPU check, where a case is read
// from on the GPU machine, and the error measures their tolerances are stated in. Every measure
// returns +inf on a NaN/inf output or on a size that does not fit, so a broken output never
// passes a tolerance.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2::testing {

inline bool HaveCudaDevice() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Golden case `name`: under $EVO2_GOLDEN_DIR when that is set (the packed test binaries run on a
// machine without the source tree; nullopt when the case there lacks `marker`, the file that
// shows the checkpoint is present), else GoldenCaseDir.
inline std::optional<std::filesystem::path> GpuGoldenCaseDir(const std::string& name,
                                                             const char* marker) {
  if (const char* env = std::getenv("EVO2_GOLDEN_DIR"); env != nullptr) {
    const std::filesystem::path p = std::filesystem::path(env) / name;
    if (std::filesystem::exists(p / marker)) return p;
    return std::nullopt;
  }
  return GoldenCaseDir(name);
}

// ‖got[offset …] − want‖ / ‖want‖ over want.size() values.
inline double RelL2(const std::vector<float>& got, size_t offset, const std::vector<float>& want) {
  if (want.empty() || got.size() < offset + want.size()) return INFINITY;  // nothing read: fail
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[offset + i];
    if (!std::isfinite(g)) return INFINITY;
    num += (g - want[i]) * (g - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

// ‖got − want‖ / ‖want‖ of two equally long vectors.
inline double RelL2(const std::vector<float>& got, const std::vector<float>& want) {
  return got.size() == want.size() ? RelL2(got, 0, want) : INFINITY;
}

// Max |got[offset …] − want| over want.size() values.
inline double MaxAbsAt(const std::vector<float>& got, size_t offset,
                       const std::vector<float>& want) {
  if (got.size() < offset + want.size()) return INFINITY;
  return MaxAbsDiff(std::vector<float>(got.begin() + offset, got.begin() + offset + want.size()),
                    want);
}

inline double Mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

}  // namespace evo2::testing
