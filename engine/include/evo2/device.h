// Where a model runs and in what precision it computes. Parsed once from text where it enters
// the program (command-line and worker flags); everything below takes the enums.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace evo2 {

enum class Device : uint8_t {
  kCpu,   // "cpu": the fp32 reference backends
  kCuda,  // "cuda": NVIDIA GPUs (bf16 by default)
};

enum class Precision : uint8_t {
  kDefault,  // "": the backend's own (fp32 on cpu, bf16 on cuda)
  kFp32,     // "fp32"
  kBf16,     // "bf16"
};

// Which linear layers compute their GEMMs in FP8 E4M3 (docs/spec/fp8.md). The embedding and the
// LM head never do.
enum class Fp8Mode : uint8_t {
  kOff,
  kHyenaProjections,  // predict --fp8: the Hyena input projections only (the "vortex style")
  kAllLinears,        // predict --full-fp8: every projection, out-projection and MLP linear
};

// "cpu" | "cuda"; InvalidArgument listing the valid names otherwise.
absl::StatusOr<Device> ParseDevice(std::string_view name);
// "" (backend default) | "fp32" | "bf16"; InvalidArgument listing the valid names otherwise.
absl::StatusOr<Precision> ParsePrecision(std::string_view name);

// Static strings; const char* because this abseil's StrCat takes no std::string_view.
const char* DeviceName(Device device);           // "cpu", "cuda"
const char* PrecisionName(Precision precision);  // "default", "fp32", "bf16"
const char* Fp8ModeName(Fp8Mode mode);           // "off", "hyena-projections", "all-linears"

}  // namespace evo2
