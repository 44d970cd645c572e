// Names of the activations a caller may capture (embeddings), vortex and NeMo style.
//
// Vortex names follow the module paths that evo2's `return_embeddings=True, layer_names=[...]`
// hooks (a forward hook returns the module's output): `blocks.b` is the residual stream after
// block b, `blocks.b.mlp.l3` (= `blocks.b.mlp`) the MLP output before its residual add,
// `blocks.b.out_filter_dense` / `blocks.b.inner_mha_cls` the mixer output including its bias.
// NeMo names are those of bionemo's `--embedding-layer`: `decoder.layers.b` is the output of
// layer b (the residual stream), `decoder.final_norm` the normalised final stream.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "evo2/layer_name.h"

namespace evo2 {

namespace {

using Point = LayerTap::Point;

std::string MixerName(const ModelConfig& c, int b) {
  return c.block_kinds[b] == BlockKind::kAttn ? "inner_mha_cls" : "out_filter_dense";
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

absl::StatusOr<LayerTap> ParseLayerName(const ModelConfig& c, std::string_view name) {
  // The grammar's errors gain the model's range of B.
  auto with_range = [&](const absl::Status& st) {
    return absl::Status(st.code(), absl::StrCat(st.message(), " with B in [0, ", c.num_layers,
                                                ") — `evo2 layers` lists them all"));
  };
  auto bad = [&](std::string_view why) { return with_range(UnknownLayerError(name, why)); };
  const absl::StatusOr<LayerName> parsed = ParseLayerNameSyntax(name);
  if (!parsed.ok()) return with_range(parsed.status());
  const LayerName& n = *parsed;
  if (n.block < 0) return LayerTap{n.point, -1};
  const int b = n.block;
  if (b >= c.num_layers) {
    return absl::OutOfRangeError(absl::StrCat("layer '", std::string(name), "': block ", b,
                                              " does not exist (the model has ", c.num_layers,
                                              " blocks, 0..", c.num_layers - 1, ")"));
  }
  if (n.point == Point::kBlockOutput) return LayerTap{Point::kBlockOutput, b};
  // HF families (ModelFamily::kLlama / kNemotronH) have no Hyena block kinds or sub-layer
  // names: only whole layers, the embedding and the final norm are named for them.
  if (c.family != ModelFamily::kHyena || c.block_kinds.size() != static_cast<size_t>(c.num_layers))
    return bad("this model family names whole layers only (blocks.B / decoder.layers.B)");
  if (n.point == Point::kMixer && MixerSpellingName(n.mixer) != MixerName(c, b)) {
    return bad(absl::StrCat("block ", b, " is ", std::string(BlockKindName(c.block_kinds[b])),
                            "; its mixer is blocks.", b, ".", MixerName(c, b)));
  }
  return LayerTap{n.point, b};
}

}  // namespace evo2
