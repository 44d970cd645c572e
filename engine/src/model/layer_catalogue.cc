// Names of the activations a caller may capture (embeddings), vortex and NeMo style.
//
// Vortex names follow the module paths that evo2's `return_embeddings=True, layer_names=[...]`
// hooks (a forward hook returns the module's output): `blocks.b` is the residual stream after
// block b, `blocks.b.mlp.l3` (= `blocks.b.mlp`) the MLP output before its residual add,
// `blocks.b.out_filter_dense` / `blocks.b.inner_mha_cls` the mixer output including its bias.
// NeMo names are those of bionemo's `--embedding-layer`: `decoder.layers.b` is the output of
// layer b (the residual stream), `decoder.final_norm` the normalised final stream.
#include <charconv>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/config.h"

namespace evo2 {

namespace {

using Point = LayerTap::Point;

std::string MixerName(const ModelConfig& c, int b) {
  return c.block_kinds[b] == BlockKind::kAttn ? "inner_mha_cls" : "out_filter_dense";
}

bool ParseIndex(std::string_view s, int& out) {
  if (s.empty() || s.size() > 6) return false;
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

std::vector<std::string> LayerCatalogue(const ModelConfig& c) {
  std::vector<std::string> out;
  out.push_back("embedding_layer");
  // HF families: whole layers only (see ParseLayerName).
  const bool sub_layers =
      c.family == ModelFamily::kHyena && c.block_kinds.size() == static_cast<size_t>(c.num_layers);
  for (int b = 0; b < c.num_layers && !sub_layers; ++b) out.push_back(absl::StrCat("blocks.", b));
  for (int b = 0; b < c.num_layers && sub_layers; ++b) {
    const std::string p = absl::StrCat("blocks.", b);
    out.push_back(p + ".pre_norm");
    out.push_back(absl::StrCat(p, ".", MixerName(c, b)));
    out.push_back(p + ".post_norm");
    out.push_back(p + ".mlp");
    out.push_back(p + ".mlp.l3");
    out.push_back(p);
  }
  out.push_back("norm");
  out.push_back("embedding");
  for (int b = 0; b < c.num_layers; ++b) out.push_back(absl::StrCat("decoder.layers.", b));
  out.push_back("decoder.final_norm");
  return out;
}

absl::StatusOr<LayerTap> ParseLayerName(const ModelConfig& c, std::string_view name_in) {
  std::string_view name = name_in;
  if (name.starts_with("module.")) name.remove_prefix(7);
  if (name == "embedding_layer" || name == "embedding" || name == "embedding.word_embeddings") {
    return LayerTap{Point::kEmbedding, -1};
  }
  if (name == "norm" || name == "decoder.final_norm") return LayerTap{Point::kFinalNorm, -1};

  const std::vector<std::string_view> parts = SplitDots(name);
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown layer '", std::string(name_in), "' (", std::string(why),
        "); valid names look like blocks.B, blocks.B.mlp.l3, decoder.layers.B, embedding_layer, "
        "norm with B in [0, ",
        c.num_layers, ") — `evo2 layers` lists them all"));
  };
  int b = -1;
  size_t rest = 0;
  if (parts.size() >= 2 && parts[0] == "blocks") {
    if (!ParseIndex(parts[1], b)) return bad("block index is not a number");
    rest = 2;
  } else if (parts.size() >= 3 && parts[0] == "decoder" && parts[1] == "layers") {
    if (!ParseIndex(parts[2], b)) return bad("layer index is not a number");
    if (parts.size() != 3) return bad("only whole decoder layers can be captured");
    rest = 3;
  } else {
    return bad("not a vortex or NeMo layer name");
  }
  if (b < 0 || b >= c.num_layers) {
    return absl::OutOfRangeError(absl::StrCat("layer '", std::string(name_in), "': block ", b,
                                              " does not exist (the model has ", c.num_layers,
                                              " blocks, 0..", c.num_layers - 1, ")"));
  }
  const std::vector<std::string_view> tail(parts.begin() + static_cast<long>(rest), parts.end());
  if (tail.empty()) return LayerTap{Point::kBlockOutput, b};
  // HF families (ModelFamily::kLlama / kNemotronH) have no Hyena block kinds or sub-layer
  // names: only whole layers, the embedding and the final norm are named for them.
  if (c.family != ModelFamily::kHyena || c.block_kinds.size() != static_cast<size_t>(c.num_layers))
    return bad("this model family names whole layers only (blocks.B / decoder.layers.B)");
  if (tail.size() == 1 && tail[0] == "pre_norm") return LayerTap{Point::kPreNorm, b};
  if (tail.size() == 1 && tail[0] == "post_norm") return LayerTap{Point::kPostNorm, b};
  if (tail[0] == "mlp" && (tail.size() == 1 || (tail.size() == 2 && tail[1] == "l3"))) {
    return LayerTap{Point::kMlp, b};
  }
  if (tail.size() == 1 && tail[0] == MixerName(c, b)) return LayerTap{Point::kMixer, b};
  if ((tail[0] == "inner_mha_cls" || tail[0] == "out_filter_dense") && tail.size() == 1) {
    return bad(absl::StrCat("block ", b, " is ", std::string(BlockKindName(c.block_kinds[b])),
                            "; its mixer is blocks.", b, ".", MixerName(c, b)));
  }
  return bad("this sub-layer cannot be captured");
}

}  // namespace evo2
