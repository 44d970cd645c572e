#include "evo2/device.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evo2 {

absl::StatusOr<Device> ParseDevice(std::string_view name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", std::string(name), "' (valid: cpu, cuda)"));
}

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  // "default" is accepted too, so that PrecisionName's output parses back.
  if (name.empty() || name == "default") return Precision::kDefault;
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown precision '", std::string(name), "' (valid: fp32, bf16, or empty for the default)"));
}

const char* DeviceName(Device device) {
  switch (device) {
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "unknown";
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kDefault:
      return "default";
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
  }
  return "unknown";
}

const char* Fp8ModeName(Fp8Mode mode) {
  switch (mode) {
    case Fp8Mode::kOff: return "off";
    case Fp8Mode::kHyenaProjections: return "hyena-projections";
    case Fp8Mode::kAllLinears: return "all-linears";
  }
  return "?";
}

}  // namespace evo2
