#include "evo2/layer_name.h"

#include <charconv>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace evo2 {
namespace {

// At most 6 digits: no model has a million blocks, and the bound keeps int parsing trivially safe.
bool ParseIndex(std::string_view s, int& out) {
  if (s.empty() || s.size() > 6 || s[0] < '0' || s[0] > '9') return false;  // no sign
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

}  // namespace

absl::Status UnknownLayerError(std::string_view name, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown layer '", std::string(name), "' (", std::string(why),
      "); valid names look like blocks.B, blocks.B.mlp.l3, decoder.layers.B, embedding_layer, "
      "norm"));
}

std::string_view MixerSpellingName(MixerSpelling mixer) {
  switch (mixer) {
    case MixerSpelling::kInnerMhaCls:
      return "inner_mha_cls";
    case MixerSpelling::kOutFilterDense:
      return "out_filter_dense";
    case MixerSpelling::kNone:
      break;
  }
  return "";
}

absl::StatusOr<LayerName> ParseLayerNameSyntax(std::string_view name_in) {
  std::string_view name = name_in;
  if (name.starts_with("module.")) name.remove_prefix(7);
  if (name == "embedding_layer" || name == "embedding" || name == "embedding.word_embeddings") {
    return LayerName{LayerPoint::kEmbedding, -1};
  }
  if (name == "norm" || name == "decoder.final_norm") return LayerName{LayerPoint::kFinalNorm, -1};

  const std::vector<std::string_view> parts = SplitDots(name);
  int b = -1;
  if (parts.size() >= 3 && parts[0] == "decoder" && parts[1] == "layers") {
    if (!ParseIndex(parts[2], b)) return UnknownLayerError(name_in, "layer index is not a number");
    if (parts.size() != 3) {
      return UnknownLayerError(name_in, "only whole decoder layers can be captured");
    }
    return LayerName{LayerPoint::kBlockOutput, b};
  }
  if (parts.size() < 2 || parts[0] != "blocks") {
    return UnknownLayerError(name_in, "not a vortex or NeMo layer name");
  }
  if (!ParseIndex(parts[1], b)) return UnknownLayerError(name_in, "block index is not a number");
  const std::vector<std::string_view> tail(parts.begin() + 2, parts.end());
  if (tail.empty()) return LayerName{LayerPoint::kBlockOutput, b};
  if (tail.size() == 1 && tail[0] == "pre_norm") return LayerName{LayerPoint::kPreNorm, b};
  if (tail.size() == 1 && tail[0] == "post_norm") return LayerName{LayerPoint::kPostNorm, b};
  if (tail[0] == "mlp" && (tail.size() == 1 || (tail.size() == 2 && tail[1] == "l3"))) {
    return LayerName{LayerPoint::kMlp, b};
  }
  if (tail.size() == 1 && tail[0] == "inner_mha_cls") {
    return LayerName{LayerPoint::kMixer, b, MixerSpelling::kInnerMhaCls};
  }
  if (tail.size() == 1 && tail[0] == "out_filter_dense") {
    return LayerName{LayerPoint::kMixer, b, MixerSpelling::kOutFilterDense};
  }
  return UnknownLayerError(name_in, "this sub-layer cannot be captured");
}

}  // namespace evo2
