// What the cuda backend's GPU tests share (the golden, decode, FP8 and engine-group tests): the
// GPU check, loading a case's checkpoint, where a case is read from on the GPU machine, and the
// error measures their tolerances are stated in. Every measure
// returns +inf on a NaN/inf output or on a size that does not fit, so a broken output never
// passes a tolerance.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2::testing {

inline bool HaveCudaDevice() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// How a test loads a case's `model.pt`: device, precision, FP8 mode and engine-group layout
// (`devices` 0: TP × CP, no data-parallel replicas).
struct GoldenModelLoad {
  Device device = Device::kCuda;
  Precision precision = Precision::kBf16;
  Fp8Mode fp8 = Fp8Mode::kOff;
  int tp = 1, cp = 1, devices = 0;
};
inline absl::StatusOr<std::unique_ptr<Model>> LoadGoldenModel(const std::filesystem::path& dir,
                                                              const GoldenModelLoad& load) {
  LoadOptions o;
  o.checkpoint = dir / "model.pt";
  o.device = load.device;
  o.precision = load.precision;
  o.fp8 = load.fp8;
  o.tensor_parallel_size = load.tp;
  o.context_parallel_size = load.cp;
  o.devices = load.devices;
  return LoadModel(o);
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
