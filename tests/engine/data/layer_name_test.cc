// The layer-name grammar without a model (evo2/layer_name.h): every spelling, and clear errors.
#include "evo2/layer_name.h"

#include <string>

#include "gtest/gtest.h"

namespace evo2 {
namespace {

LayerName Parse(const std::string& name) {
  auto n = ParseLayerNameSyntax(name);
  EXPECT_TRUE(n.ok()) << name << ": " << n.status();
  return n.ok() ? *n : LayerName{};
}

TEST(LayerNameSyntax, EverySpelling) {
  for (const char* e :
       {"embedding_layer", "embedding", "embedding.word_embeddings", "module.embedding"}) {
    EXPECT_EQ(Parse(e).point, LayerPoint::kEmbedding) << e;
    EXPECT_EQ(Parse(e).block, -1) << e;
  }
  EXPECT_EQ(Parse("norm").point, LayerPoint::kFinalNorm);
  EXPECT_EQ(Parse("module.decoder.final_norm").point, LayerPoint::kFinalNorm);
  EXPECT_EQ(Parse("blocks.12").point, LayerPoint::kBlockOutput);
  EXPECT_EQ(Parse("blocks.12").block, 12);
  EXPECT_TRUE(Parse("decoder.layers.12").SameTap(Parse("blocks.12")));
  EXPECT_EQ(Parse("blocks.0.pre_norm").point, LayerPoint::kPreNorm);
  EXPECT_EQ(Parse("blocks.0.post_norm").point, LayerPoint::kPostNorm);
  EXPECT_TRUE(Parse("blocks.3.mlp").SameTap(Parse("blocks.3.mlp.l3")));
  EXPECT_EQ(Parse("blocks.3.mlp").point, LayerPoint::kMlp);
  const LayerName attn = Parse("blocks.3.inner_mha_cls");
  EXPECT_EQ(attn.point, LayerPoint::kMixer);
  EXPECT_EQ(attn.mixer, MixerSpelling::kInnerMhaCls);
  EXPECT_EQ(Parse("blocks.4.out_filter_dense").mixer, MixerSpelling::kOutFilterDense);
  EXPECT_EQ(MixerSpellingName(MixerSpelling::kOutFilterDense), "out_filter_dense");
}

TEST(LayerNameSyntax, ErrorsSayWhy) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "not a vortex or NeMo layer name"},
      {"blocks", "not a vortex or NeMo layer name"},
      {"blocks.x.mlp", "block index is not a number"},
      {"blocks.-1", "block index is not a number"},
      {"blocks.1234567", "block index is not a number"},
      {"decoder.layers.x", "layer index is not a number"},
      {"decoder.layers.1.mlp", "only whole decoder layers"},
      {"blocks.1.mlp.l1", "this sub-layer cannot be captured"},
      {"blocks.1.attention", "this sub-layer cannot be captured"},
  };
  for (const auto& [name, why] : bad) {
    auto n = ParseLayerNameSyntax(name);
    ASSERT_FALSE(n.ok()) << name;
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << name;
    const std::string m(n.status().message());
    EXPECT_NE(m.find(std::string("unknown layer '") + name + "'"), std::string::npos) << m;
    EXPECT_NE(m.find(why), std::string::npos) << m;
    EXPECT_NE(m.find("valid names look like blocks.B"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace evo2
