// ModelConfig: vortex YAML, NeMo YAML, presets, tensor validation, layer names, registry.
#include "evo2/config.h"

#include <string>
#include <vector>

#include "evo2/backend_registry.h"
#include "gtest/gtest.h"
#include "model/expected_tensors.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using evo2::testing::GoldenCaseDir;

ModelConfig LoadCaseConfig(const std::string& name) {
  auto dir = GoldenCaseDir(name);
  if (!dir) return {};
  auto c = ModelConfigFromVortexYaml(*dir / "config.yml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

TEST(VortexYamlTest, GoldenCases) {
  struct Want {
    const char* name;
    int layers, H, heads, I, groups;
    const char* pattern;
    double scale, base;
  };
  const Want wants[] = {
      {"a_tiny6", 6, 128, 4, 352, 8, "SDH*SH", 1.0, 1e4},
      {"b_small10", 10, 192, 6, 512, 16, "DSH*HDS*HS", 16.0, 1e6},
      {"c_7blike32", 32, 96, 3, 256, 6, "SDH*SDHSDH*SDHSDH*SDHSDH*SDHSDH*", 128.0, 1e4},
  };
  int seen = 0;
  for (const auto& w : wants) {
    if (!GoldenCaseDir(w.name)) continue;
    ++seen;
    ModelConfig c = LoadCaseConfig(w.name);
    EXPECT_EQ(c.num_layers, w.layers) << w.name;
    EXPECT_EQ(c.hidden_size, w.H) << w.name;
    EXPECT_EQ(c.num_heads, w.heads) << w.name;
    EXPECT_EQ(c.head_dim, 32) << w.name;
    EXPECT_EQ(c.inner_mlp_size, w.I) << w.name;
    EXPECT_EQ(c.hcs_filter_groups, w.groups) << w.name;
    EXPECT_EQ(c.hcm_filter_groups, w.groups) << w.name;
    EXPECT_EQ(c.Pattern(), w.pattern) << w.name;
    EXPECT_EQ(c.rotary_position_scale, w.scale) << w.name;
    EXPECT_EQ(c.rotary_base, w.base) << w.name;
    EXPECT_FLOAT_EQ(c.eps, 1e-6f) << w.name;
    EXPECT_EQ(c.mlp_activation, MlpActivation::kArc);
    EXPECT_TRUE(CheckSupported(c).ok());
  }
  if (seen == 0) GTEST_SKIP() << "no golden case directory present";
}

constexpr const char* kTinyYaml = R"(
model_name: t
hidden_size: 8
num_layers: 4
num_attention_heads: 2
hcs_layer_idxs: [0]
hcm_layer_idxs: [1]
hcl_layer_idxs: [2]
attn_layer_idxs: [3]
hcs_filter_groups: 2
hcm_filter_groups: 4
inner_mlp_size: 16
)";

TEST(VortexYamlTest, RejectsBrokenLayerLists) {
  std::string overlap = kTinyYaml;
  overlap.replace(overlap.find("hcl_layer_idxs: [2]"), 19, "hcl_layer_idxs: [1]");
  auto c = ModelConfigFromVortexYamlString(overlap, "overlap.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("layer 1 appears in hcm_layer_idxs and in hcl_layer_idxs"),
            std::string::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("overlap.yml"), std::string::npos);

  std::string out_of_range = kTinyYaml;
  out_of_range.replace(out_of_range.find("attn_layer_idxs: [3]"), 20, "attn_layer_idxs: [7]");
  c = ModelConfigFromVortexYamlString(out_of_range, "x.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("outside [0, 4)"), std::string::npos) << c.status();
}

TEST(VortexYamlTest, RejectsUnsupportedSwitchesAndBadInput) {
  auto c = ModelConfigFromVortexYamlString(std::string(kTinyYaml) + "interleave: false\n", "x.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("interleave"), std::string::npos) << c.status();

  c = ModelConfigFromVortexYamlString(std::string(kTinyYaml) + "mlp_activation: relu\n", "x.yml");
  EXPECT_FALSE(c.ok());

  c = ModelConfigFromVortexYamlString("hidden_size: [unclosed", "broken.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("broken.yml"), std::string::npos);

  std::string bad_heads = kTinyYaml;
  bad_heads.replace(bad_heads.find("num_attention_heads: 2"), 22, "num_attention_heads: 3");
  c = ModelConfigFromVortexYamlString(bad_heads, "x.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not divisible by 3 heads"), std::string::npos);

  c = ModelConfigFromVortexYamlString("num_layers: 2\n", "x.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("hidden_size"), std::string::npos) << c.status();

  auto missing = ModelConfigFromVortexYaml("/nonexistent/config.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/config.yml"), std::string::npos);
}

// Reproducers in tests/fuzz/corpus/vortex_yaml_fuzz (they failed the fuzz target on UBSan and its
// memory limit): out-of-range numbers are errors naming the key, never a wrapped value, an 8 GB
// allocation or an undefined cast.
TEST(VortexYamlTest, RejectsOutOfRangeNumbers) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string yaml = kTinyYaml;
    yaml.replace(yaml.find(from), from.size(), to);
    return ModelConfigFromVortexYamlString(yaml, "x.yml");
  };
  auto c = with("num_layers: 4", "num_layers: 4294967300");  // 4 after a 32-bit wrap
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("x.yml: key 'num_layers': 4294967300 is out of range"),
            std::string::npos)
      << c.status();

  c = with("num_layers: 4", "num_layers: 2000000000");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("num_layers 2000000000 is not in [1, 4096]"),
            std::string::npos)
      << c.status();

  for (const char* huge : {"1.0e+30", "-1.0e+300", ".inf", ".nan"}) {
    c = with("hidden_size: 8", std::string("hidden_size: ") + huge);
    ASSERT_FALSE(c.ok()) << huge;
    EXPECT_NE(c.status().message().find("key 'hidden_size': expected an integer"),
              std::string::npos)
        << c.status();
  }
  c = with("hidden_size: 8", "hidden_size: 8.0");  // integral floats stay accepted
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(NemoYamlTest, RejectsOutOfRangeNumbers) {
  auto c = ModelConfigFromNemoYamlString(
      "config:\n  hybrid_override_pattern: SDH*\n  hidden_size: 4294967304\n"
      "  num_attention_heads: 2\n",
      "model.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("key 'hidden_size': 4294967304 is out of range"),
            std::string::npos)
      << c.status();
  c = ModelConfigFromNemoYamlString(
      "config:\n  hybrid_override_pattern: SDH*\n  hidden_size: 8\n"
      "  num_attention_heads: 1.0e+19\n",
      "model.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("key 'num_attention_heads': expected an integer"),
            std::string::npos)
      << c.status();
}

TEST(NemoYamlTest, AgreesWithTheVortexConfigOfTheSameModel) {
  for (const char* name : {"a_tiny6", "b_small10"}) {
    auto dir = GoldenCaseDir(name);
    if (!dir || !std::filesystem::exists(*dir / "nemo2_tp1/context/model.yaml")) continue;
    auto nemo = ModelConfigFromNemoYaml(*dir / "nemo2_tp1/context/model.yaml");
    ASSERT_TRUE(nemo.ok()) << nemo.status();
    ModelConfig vortex = LoadCaseConfig(name);
    EXPECT_TRUE(CheckConfigsAgree(vortex, "config.yml", *nemo, "model.yaml").ok());
    EXPECT_EQ(nemo->inner_mlp_size, vortex.inner_mlp_size);
    EXPECT_EQ(nemo->rotary_base, vortex.rotary_base);
    EXPECT_EQ(nemo->head_dim, vortex.head_dim);
    EXPECT_TRUE(CheckSupported(*nemo).ok());
  }
}

TEST(NemoYamlTest, RejectsNonHyenaPattern) {
  auto c = ModelConfigFromNemoYamlString(
      "config:\n  hybrid_override_pattern: M-M*\n  hidden_size: 8\n  num_attention_heads: 2\n",
      "model.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'M' at layer 0"), std::string::npos) << c.status();
}

TEST(PresetTest, PublishedSizes) {
  for (const std::string& name : PresetNames()) {
    auto c = ModelConfigPreset(name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status();
    EXPECT_EQ(c->head_dim, 128) << name;
    EXPECT_EQ(c->vocab_size, 512) << name;
    EXPECT_EQ(c->block_kinds[0], BlockKind::kHcs) << name;
    EXPECT_EQ(CheckSupported(*c).ok(), name.find("_nv") == std::string::npos) << name;
  }
  auto c40 = ModelConfigPreset("evo2_40b");
  ASSERT_TRUE(c40.ok());
  EXPECT_EQ(c40->LayersOfKind(BlockKind::kAttn), (std::vector<int>{3, 10, 17, 24, 31, 35, 42, 49}));
  EXPECT_EQ(c40->rotary_position_scale, 128.0);
  auto c20 = ModelConfigPreset("evo2_20b");
  ASSERT_TRUE(c20.ok());
  EXPECT_EQ(c20->LayersOfKind(BlockKind::kAttn), (std::vector<int>{3, 10, 17}));
  EXPECT_EQ(c20->num_layers, 24);
  auto c1 = ModelConfigPreset("1b");
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->hidden_size, 1920);
  EXPECT_EQ(c1->num_heads, 15);
  EXPECT_EQ(c1->hcm_filter_groups, 128);
  auto lc = ModelConfigPreset("7b_arc_longcontext");
  ASSERT_TRUE(lc.ok());
  EXPECT_EQ(lc->rotary_position_scale, 128.0);
  auto k262 = ModelConfigPreset("evo2_7b_262k");
  ASSERT_TRUE(k262.ok());
  EXPECT_EQ(k262->rotary_position_scale, 32.0);

  auto nv = ModelConfigPreset("7b_nv");
  ASSERT_TRUE(nv.ok());
  auto s = CheckSupported(*nv);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("_nv"), std::string::npos);

  auto unknown = ModelConfigPreset("13b");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("7b_arc_longcontext"), std::string::npos);
}

TEST(PresetTest, DisagreementNamesTheField) {
  auto a = ModelConfigPreset("7b");
  auto b = ModelConfigPreset("7b_arc_longcontext");
  ASSERT_TRUE(a.ok() && b.ok());
  auto s = CheckConfigsAgree(*a, "--model-size 7b", *b, "config.yml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rotary position scaling"), std::string::npos) << s;
  auto forty = ModelConfigPreset("40b");
  s = CheckConfigsAgree(*a, "--model-size 7b", *forty, "config.yml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_layers"), std::string::npos) << s;
}

ModelConfig TinyConfig() {
  auto c = ModelConfigFromVortexYamlString(kTinyYaml, "tiny.yml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TensorMap TensorsFor(const ModelConfig& c) {
  TensorMap m;
  for (const auto& e : internal::ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    m[e.name] = Tensor::FromFloat32(e.shape, std::vector<float>(static_cast<size_t>(n), 0.5f));
  }
  return m;
}

TEST(ValidateTensorsTest, AcceptsMatchingAndNamesMismatches) {
  ModelConfig c = TinyConfig();
  TensorMap t = TensorsFor(c);
  EXPECT_TRUE(ValidateTensors(c, t).ok());

  ModelConfig from_preset = c;
  from_preset.inner_mlp_size = 0;
  ASSERT_TRUE(ResolveFromTensors(from_preset, t).ok());
  EXPECT_EQ(from_preset.inner_mlp_size, 16);

  TensorMap wrong = t;
  wrong["blocks.2.mlp.l3.weight"] = Tensor::FromFloat32({8, 12}, std::vector<float>(96, 0.0f));
  auto s = ValidateTensors(c, wrong);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tensor 'blocks.2.mlp.l3.weight' has shape [8, 12]"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("expects [8, 16]"), std::string::npos) << s;

  TensorMap missing = t;
  missing.erase("blocks.1.filter.D");
  s = ValidateTensors(c, missing);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'blocks.1.filter.D'"), std::string::npos) << s;

  // The inv_freq buffer may be absent (NeMo2 checkpoints do not store it).
  TensorMap no_freq = t;
  no_freq.erase("blocks.3.inner_mha_cls.rotary_emb.inv_freq");
  EXPECT_TRUE(ValidateTensors(c, no_freq).ok());

  // [3H, 3] featurizer taps (NeMo layout) hold the same numbers as [3H, 1, 3].
  TensorMap squeezed = t;
  squeezed["blocks.0.filter.short_filter_weight"] =
      Tensor::FromFloat32({24, 3}, std::vector<float>(72, 0.0f));
  EXPECT_TRUE(ValidateTensors(c, squeezed).ok());

  TensorMap ints = t;
  ints["norm.scale"] = Tensor::FromInt64({8}, std::vector<int64_t>(8, 1));
  EXPECT_FALSE(ValidateTensors(c, ints).ok());
}

TEST(LayerCatalogueTest, EveryListedNameParses) {
  ModelConfig c = TinyConfig();
  const auto names = LayerCatalogue(c);
  EXPECT_EQ(names.front(), "embedding_layer");
  for (const auto& n : names) EXPECT_TRUE(ParseLayerName(c, n).ok()) << n;
  EXPECT_EQ(*ParseLayerName(c, "blocks.2.mlp.l3"), (LayerTap{LayerTap::Point::kMlp, 2}));
  EXPECT_EQ(*ParseLayerName(c, "decoder.layers.3"), (LayerTap{LayerTap::Point::kBlockOutput, 3}));
  EXPECT_EQ(*ParseLayerName(c, "module.decoder.layers.1"),
            (LayerTap{LayerTap::Point::kBlockOutput, 1}));
  EXPECT_EQ(*ParseLayerName(c, "blocks.3.inner_mha_cls"), (LayerTap{LayerTap::Point::kMixer, 3}));
  EXPECT_EQ(*ParseLayerName(c, "norm"), (LayerTap{LayerTap::Point::kFinalNorm, -1}));
  auto oob = ParseLayerName(c, "blocks.4");
  ASSERT_FALSE(oob.ok());
  EXPECT_NE(oob.status().message().find("0..3"), std::string::npos) << oob.status();
  EXPECT_FALSE(ParseLayerName(c, "blocks.3.out_filter_dense").ok());  // block 3 is attention
  EXPECT_FALSE(ParseLayerName(c, "blocks.x.mlp").ok());
  EXPECT_FALSE(ParseLayerName(c, "decoder.layers.1.mlp").ok());
  EXPECT_FALSE(ParseLayerName(c, "").ok());
}

TEST(BackendRegistryTest, EveryFamilyRunsOnTheCpu) {
  for (ModelFamily family : {ModelFamily::kHyena, ModelFamily::kLlama, ModelFamily::kNemotronH}) {
    EXPECT_TRUE(FindModelLoader(family, Device::kCpu).ok()) << ModelFamilyName(family);
    auto devices = RegisteredDevices(family);
    EXPECT_NE(std::find(devices.begin(), devices.end(), Device::kCpu), devices.end());
  }
}

TEST(BackendRegistryTest, MissingCombinationNamesFamilyAndDevice) {
  // The CUDA library (when linked and registered) adds Evo 2 only; the HF families stay cpu-only.
  auto cuda = FindModelLoader(ModelFamily::kNemotronH, Device::kCuda);
  ASSERT_FALSE(cuda.ok());
  EXPECT_EQ(cuda.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cuda.status().message(),
            "the NemotronH family has no 'cuda' backend in this build (available: cpu)");
  auto devices = RegisteredDevices(ModelFamily::kHyena);
  if (std::find(devices.begin(), devices.end(), Device::kCuda) == devices.end()) {
    auto hyena = FindModelLoader(ModelFamily::kHyena, Device::kCuda);
    ASSERT_FALSE(hyena.ok());
    EXPECT_NE(hyena.status().message().find("Evo 2 (StripedHyena) family has no 'cuda' backend"),
              std::string::npos)
        << hyena.status();
  }
}

TEST(BackendRegistryTest, RegisteredLoaderIsFoundForItsFamilyOnly) {
  RegisterModelLoader(ModelFamily::kLlama, Device::kCuda, [](const LoadOptions&) {
    return absl::StatusOr<std::unique_ptr<Model>>(absl::UnavailableError("test loader"));
  });
  auto loader = FindModelLoader(ModelFamily::kLlama, Device::kCuda);
  ASSERT_TRUE(loader.ok()) << loader.status();
  EXPECT_EQ((*loader)(LoadOptions{}).status().message(), "test loader");
  auto devices = RegisteredDevices(ModelFamily::kLlama);
  EXPECT_EQ(devices, (std::vector<Device>{Device::kCpu, Device::kCuda}));
  EXPECT_FALSE(FindModelLoader(ModelFamily::kNemotronH, Device::kCuda).ok());
}

}  // namespace
}  // namespace evo2
