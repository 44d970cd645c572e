#include "model/config_common.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::internal {

absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  return ss.str();
}

bool YamlReader::Has(const char* key) const {
  YAML::Node n = map_[key];
  return n && !n.IsNull();
}

void YamlReader::Fail(const char* key, std::string_view what) {
  if (status_.ok()) {
    status_ =
        absl::InvalidArgumentError(absl::StrCat(source_, ": key '", key, "': ", std::string(what)));
  }
}

int64_t YamlReader::Int(const char* key, int64_t fallback) {
  if (!Has(key)) return fallback;
  try {
    return map_[key].as<int64_t>();
  } catch (const YAML::Exception&) {
    // Accept integral floats such as `128.0` (NeMo writes interpolation factors as floats).
    try {
      // Range first: casting a double outside int64's range (1e30, inf, nan) is undefined.
      const double d = map_[key].as<double>();
      if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) return static_cast<int64_t>(d);
    } catch (const YAML::Exception&) {
    }
    Fail(key, "expected an integer");
    return fallback;
  }
}

double YamlReader::Double(const char* key, double fallback) {
  if (!Has(key)) return fallback;
  try {
    return map_[key].as<double>();
  } catch (const YAML::Exception&) {
    Fail(key, "expected a number");
    return fallback;
  }
}

bool YamlReader::Bool(const char* key, bool fallback) {
  if (!Has(key)) return fallback;
  try {
    return map_[key].as<bool>();
  } catch (const YAML::Exception&) {
    Fail(key, "expected true or false");
    return fallback;
  }
}

std::string YamlReader::String(const char* key, std::string fallback) {
  if (!Has(key)) return fallback;
  try {
    return map_[key].as<std::string>();
  } catch (const YAML::Exception&) {
    Fail(key, "expected a string");
    return fallback;
  }
}

absl::StatusOr<int64_t> YamlReader::RequiredInt(const char* key) {
  if (!Has(key)) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": missing key '", key, "'"));
  }
  const int64_t v = Int(key, 0);
  RETURN_IF_ERROR(status_);
  return v;
}

int YamlReader::Int32(const char* key, int fallback) {
  const int64_t v = Int(key, fallback);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    Fail(key, absl::StrCat(v, " is out of range (at most ", std::numeric_limits<int>::max(), ")"));
    return fallback;
  }
  return static_cast<int>(v);
}

absl::StatusOr<int> YamlReader::RequiredInt32(const char* key) {
  if (!Has(key)) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": missing key '", key, "'"));
  }
  const int v = Int32(key, 0);
  if (!status_.ok()) return status_;
  return v;
}

absl::StatusOr<std::vector<int64_t>> YamlReader::IntList(const char* key) {
  std::vector<int64_t> out;
  if (!Has(key)) return out;  // a model may have no layers of a kind
  YAML::Node n = map_[key];
  if (!n.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": key '", key, "': expected a list of layer indices"));
  }
  try {
    for (const auto& e : n) out.push_back(e.as<int64_t>());
  } catch (const YAML::Exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": key '", key, "': expected a list of integers"));
  }
  return out;
}

absl::Status FinishConfig(ModelConfig& c, std::string_view source) {
  const std::string src(source);
  auto positive = [&](const char* what, int64_t v) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", what, " must be positive, got ", v));
  };
  if (c.num_layers > kMaxConfigLayers) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": num_layers ", c.num_layers,
                                                   " is more than the ", kMaxConfigLayers,
                                                   " layers a config may describe"));
  }
  for (auto s : {positive("num_layers", c.num_layers), positive("hidden_size", c.hidden_size),
                 positive("attention heads", c.num_heads), positive("vocab size", c.vocab_size)}) {
    RETURN_IF_ERROR(s);
  }
  if (static_cast<int>(c.block_kinds.size()) != c.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": layer pattern has ",
                                                   c.block_kinds.size(),
                                                   " entries but num_layers is ", c.num_layers));
  }
  if (c.hidden_size % c.num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": hidden size ", c.hidden_size,
                                                   " is not divisible by ", c.num_heads, " heads"));
  }
  if (c.head_dim == 0) c.head_dim = c.hidden_size / c.num_heads;
  if (c.head_dim * c.num_heads != c.hidden_size) {
    return absl::UnimplementedError(absl::StrCat(src, ": heads x head dim (", c.num_heads, " x ",
                                                 c.head_dim, ") != hidden size ", c.hidden_size));
  }
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": head dim ", c.head_dim, " must be even for rotary embedding"));
  }
  const bool has_hcs = !c.LayersOfKind(BlockKind::kHcs).empty();
  const bool has_hcm = !c.LayersOfKind(BlockKind::kHcm).empty();
  for (auto [used, groups, what] :
       {std::tuple{has_hcs, c.hcs_filter_groups, "hcs filter groups"},
        std::tuple{has_hcm, c.hcm_filter_groups, "hcm filter groups"}}) {
    if (!used) continue;
    if (groups <= 0 || c.hidden_size % groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": ", what, " (", groups,
                                                     ") must be positive and divide hidden size ",
                                                     c.hidden_size));
    }
  }
  if (c.short_filter_length != 3) {
    return absl::UnimplementedError(
        absl::StrCat(src, ": short_filter_length ", c.short_filter_length, " (expected 3)"));
  }
  if (c.hcs_filter_length <= 0 || c.hcm_filter_length <= 0 || c.hcl_modes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": filter lengths and state_size must be positive"));
  }
  if (c.hcl_modes > 64) {  // the CPU modal state is a fixed 64-entry array per channel
    return absl::UnimplementedError(
        absl::StrCat(src, ": state_size ", c.hcl_modes, " (at most 64 modes are supported)"));
  }
  if (!(c.rotary_position_scale > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": rotary position scaling factor must be positive, got ", c.rotary_position_scale));
  }
  if (!(c.eps >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": eps must be >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace evo2::internal
