// Loading the golden vortex `.pt` checkpoints: key set, shapes and dtypes against the parameter
// table of docs/spec/model.md §9, derived from each case's config.yml.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <map>
#include <set>

#include "evo2/checkpoint.h"
#include "evo2/torch_pt.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

struct Expected {
  std::vector<int64_t> shape;
  DType dtype;
};

// The §9 table for the model that `config.yml` describes.
std::map<std::string, Expected> ExpectedKeys(const YAML::Node& c) {
  const int64_t H = c["hidden_size"].as<int64_t>();
  const int64_t I = c["inner_mlp_size"].as<int64_t>();
  const int64_t heads = c["num_attention_heads"].as<int64_t>();
  const int64_t state = c["state_size"].as<int64_t>();
  const int64_t gs = c["hcs_filter_groups"].as<int64_t>();
  const int64_t gm = c["hcm_filter_groups"].as<int64_t>();
  const int64_t ls = c["hcs_filter_length"].as<int64_t>();
  const int64_t lm = c["hcm_filter_length"].as<int64_t>();
  const auto bf = DType::kBFloat16, f32 = DType::kFloat32;
  std::map<std::string, Expected> k;
  k["embedding_layer.weight"] = {{512, H}, bf};
  k["norm.scale"] = {{H}, bf};
  auto kinds = [&](const char* key) {
    std::set<int> s;
    for (const auto& v : c[key]) s.insert(v.as<int>());
    return s;
  };
  const auto hcs = kinds("hcs_layer_idxs"), hcm = kinds("hcm_layer_idxs"),
             hcl = kinds("hcl_layer_idxs"), attn = kinds("attn_layer_idxs");
  for (int i = 0; i < c["num_layers"].as<int>(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    k[b + "pre_norm.scale"] = {{H}, bf};
    k[b + "post_norm.scale"] = {{H}, bf};
    k[b + "mlp.l1.weight"] = {{I, H}, bf};
    k[b + "mlp.l2.weight"] = {{I, H}, bf};
    k[b + "mlp.l3.weight"] = {{H, I}, bf};
    if (attn.count(i)) {
      k[b + "inner_mha_cls.Wqkv.weight"] = {{3 * H, H}, bf};
      k[b + "inner_mha_cls.out_proj.weight"] = {{H, H}, bf};
      k[b + "inner_mha_cls.out_proj.bias"] = {{H}, bf};
      k[b + "inner_mha_cls.rotary_emb.inv_freq"] = {{H / heads / 2}, f32};
      continue;
    }
    k[b + "projections.weight"] = {{3 * H, H}, bf};
    k[b + "filter.short_filter_weight"] = {{3 * H, 1, 3}, bf};
    k[b + "out_filter_dense.weight"] = {{H, H}, bf};
    k[b + "out_filter_dense.bias"] = {{H}, bf};
    if (hcs.count(i)) k[b + "filter.h"] = {{gs, 1, ls}, bf};
    if (hcm.count(i)) {
      k[b + "filter.h"] = {{gm, 1, lm}, bf};
      k[b + "filter.D"] = {{H}, bf};
    }
    if (hcl.count(i)) {
      k[b + "filter.D"] = {{H}, bf};
      k[b + "filter.log_poles"] = {{H, state, 1}, f32};
      k[b + "filter.residues"] = {{H, state}, f32};
    }
  }
  return k;
}

class GoldenPt : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenPt, KeysShapesDTypesAndValues) {
  const std::string name = GetParam();
  if (name != "a_tiny6" && !evo2::testing::HaveSharedGolden()) {
    GTEST_SKIP() << "case " << name << " needs the shared golden set (../shared/golden)";
  }
  auto dir = evo2::testing::GoldenCaseDir(name);
  if (!dir || !fs::exists(*dir / "model.pt") || !fs::exists(*dir / "config.yml")) {
    GTEST_SKIP() << "golden case " << name << " (model.pt, config.yml) not present";
  }
  const YAML::Node config = YAML::LoadFile((*dir / "config.yml").string());
  auto ckpt = LoadCheckpoint(*dir / "model.pt");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->format, CheckpointFormat::kVortexPt);
  ASSERT_TRUE(ckpt->config_yaml.has_value());
  EXPECT_EQ(ckpt->config_yaml->filename(), "config.yml");

  const auto expected = ExpectedKeys(config);
  for (const auto& [key, want] : expected) {
    auto it = ckpt->tensors.find(key);
    ASSERT_NE(it, ckpt->tensors.end()) << "missing " << key;
    EXPECT_EQ(it->second.shape(), want.shape) << key;
    EXPECT_EQ(it->second.dtype(), want.dtype) << key;
    // Every weight of a usable model is finite (NaN never passes).
    const std::vector<float> v = it->second.ToFloat32().value();
    for (float x : v) ASSERT_TRUE(std::isfinite(x)) << key;
    if (key.ends_with("log_poles")) {
      for (float x : v) ASSERT_LT(x, 0.0f) << key << ": poles must decay";
    }
    if (key.ends_with("inv_freq")) {
      // inv_freq[j] = base^(-2j/d) (docs/spec/model.md §8): a double result rounded to fp32.
      const double base = config["rotary_emb_base"].as<double>();
      const double d = 2.0 * static_cast<double>(v.size());
      for (size_t j = 0; j < v.size(); ++j) {
        const double ref = std::pow(base, -2.0 * static_cast<double>(j) / d);
        EXPECT_NEAR(v[j], ref, 2e-7 * ref) << key << "[" << j << "]";  // ~1 fp32 ulp
      }
    }
  }
  EXPECT_EQ(ckpt->tensors.size(), expected.size()) << "unexpected extra keys";

  // The directory form (one .pt + config.yml) finds the same file.
  auto by_dir = LoadCheckpoint(*dir);
  ASSERT_TRUE(by_dir.ok()) << by_dir.status();
  EXPECT_EQ(by_dir->path, *dir / "model.pt");
  EXPECT_EQ(by_dir->tensors.size(), ckpt->tensors.size());
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenPt, ::testing::Values("a_tiny6", "b_small10", "c_7blike32"));

TEST(GoldenPt, ReadTorchPtKeepsFileOrder) {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir || !fs::exists(*dir / "model.pt")) GTEST_SKIP() << "a_tiny6/model.pt not present";
  auto named = ReadTorchPt(*dir / "model.pt");
  ASSERT_TRUE(named.ok()) << named.status();
  ASSERT_FALSE(named->empty());
  // vortex writes its state dict in module order: embedding first.
  EXPECT_EQ(named->front().first, "embedding_layer.weight");
}

TEST(CheckpointErrors, ClearMessages) {
  evo2::testing::TempDir tmp("ckpt");
  auto missing = LoadCheckpoint(tmp / "nope.pt");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  auto empty_dir = LoadCheckpoint(tmp.path());
  EXPECT_FALSE(empty_dir.ok());
  EXPECT_NE(empty_dir.status().message().find("not a checkpoint"), std::string::npos) << empty_dir.status();

  evo2::testing::WriteFileBytes(tmp / "junk.pt", "this is not a zip file at all, just some text");
  auto junk = LoadCheckpoint(tmp / "junk.pt");
  EXPECT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("junk.pt"), std::string::npos) << junk.status();

  evo2::testing::WriteFileBytes(tmp / "m.pt.part0", "x");
  auto part = LoadCheckpoint(tmp / "m.pt.part0");
  EXPECT_NE(part.status().message().find("concatenate"), std::string::npos) << part.status();

  evo2::testing::WriteFileBytes(tmp / "other.pt", "y");
  auto two = LoadCheckpoint(tmp.path());
  EXPECT_NE(two.status().message().find("several .pt"), std::string::npos) << two.status();
}

TEST(CheckpointErrors, TruncatedGoldenPt) {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir || !fs::exists(*dir / "model.pt")) GTEST_SKIP() << "a_tiny6/model.pt not present";
  const std::string bytes = evo2::testing::ReadFileBytes(*dir / "model.pt");
  evo2::testing::TempDir tmp("ckpt_trunc");
  evo2::testing::WriteFileBytes(tmp / "model.pt", bytes.substr(0, bytes.size() - 100));
  auto cut = LoadCheckpoint(tmp / "model.pt");
  EXPECT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("model.pt"), std::string::npos) << cut.status();
}

}  // namespace
}  // namespace evo2
