// Shared helpers of the config readers (vortex YAML, NeMo YAML, presets). Internal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "yaml-cpp/yaml.h"

namespace evo2::internal {

// Whole file as text; NotFound / error naming the path.
absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path);

// Typed access to a YAML mapping. The first conversion error is kept in status() (naming the
// source file and key); accessors then return their defaults. `null` counts as absent.
class YamlReader {
 public:
  YamlReader(YAML::Node map, std::string_view source) : map_(map), source_(source) {}
  bool Has(const char* key) const;
  int64_t Int(const char* key, int64_t fallback);
  // Int() for the config's int fields: a value outside int's range is an error naming the key
  // (casting it would silently wrap, e.g. num_layers 4294967302 read as 6).
  int Int32(const char* key, int fallback);
  double Double(const char* key, double fallback);
  bool Bool(const char* key, bool fallback);
  std::string String(const char* key, std::string fallback);
  absl::StatusOr<int64_t> RequiredInt(const char* key);
  absl::StatusOr<int> RequiredInt32(const char* key);
  absl::StatusOr<std::vector<int64_t>> IntList(const char* key);
  const absl::Status& status() const { return status_; }

 private:
  void Fail(const char* key, std::string_view what);
  YAML::Node map_;
  std::string source_;
  absl::Status status_;
};

// At most this many layers: a bound far above any Evo 2 model (the 40B has 50) that keeps a
// malformed config from sizing per-layer tables by billions before anything else is checked.
inline constexpr int kMaxConfigLayers = 4096;

// Derives head_dim (= H / heads), checks that H divides by heads and by the filter groups,
// that positive sizes are positive and that filter lengths match what the kernels support.
absl::Status FinishConfig(ModelConfig& config, std::string_view source);

}  // namespace evo2::internal
