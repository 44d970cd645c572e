// DescribeCheckpoint: the one answer to "which format, which family, which config, how split"
// for every checkpoint layout, and LoadModel following it (a `.pt` whose config is spelled
// `config.yaml` loads without --model-size, like one with `config.yml`).
#include <filesystem>

#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

fs::path CaseOrSkip(const std::string& name) {
  auto dir = testing::GoldenCaseDir(name);
  return dir ? *dir : fs::path();
}

TEST(DescribeCheckpoint, VortexPtWithConfigYml) {
  const fs::path dir = CaseOrSkip("a_tiny6");
  if (dir.empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
  for (const fs::path& given : {dir / "model.pt", dir}) {
    auto d = DescribeCheckpoint(given);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->format, CheckpointFormat::kVortexPt);
    EXPECT_EQ(d->family, ModelFamily::kHyena);
    EXPECT_EQ(d->weights, dir / "model.pt");
    EXPECT_EQ(d->config_source, ConfigSource::kVortexYaml);
    ASSERT_TRUE(d->config.has_value());
    EXPECT_EQ(d->config->filename(), "config.yml");
    EXPECT_EQ(d->weight_files, 1);
  }
}

// Regression: `config.yaml` beside a `.pt` used to count as a config for loading but not for
// `evo2 predict`, which then forced its default --model-size in and was refused.
TEST(DescribeCheckpoint, VortexPtWithConfigYamlLoadsWithoutModelSize) {
  const fs::path dir = CaseOrSkip("a_tiny6");
  if (dir.empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
  TempDir tmp("describe_yaml");
  fs::copy_file(dir / "model.pt", tmp / "weights.pt");
  fs::copy_file(dir / "config.yml", tmp / "config.yaml");
  auto d = DescribeCheckpoint(tmp.path());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->has_config());
  EXPECT_EQ(d->config, tmp / "config.yaml");
  LoadOptions options;
  options.checkpoint = tmp.path();
  auto model = LoadModel(options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().num_layers, 6);
}

TEST(DescribeCheckpoint, Nemo2DirectoryAndMetadataFile) {
  const fs::path dir = CaseOrSkip("a_tiny6");
  if (dir.empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
  const fs::path nemo = dir / "nemo2_tp1";
  for (const fs::path& given : {nemo, nemo / "weights" / ".metadata"}) {
    auto d = DescribeCheckpoint(given);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->format, CheckpointFormat::kNemo2);
    EXPECT_EQ(d->family, ModelFamily::kHyena);
    EXPECT_EQ(d->weights, nemo);
    EXPECT_EQ(d->config_source, ConfigSource::kNemoModelYaml);
    EXPECT_EQ(d->config, nemo / "context" / "model.yaml");
    EXPECT_EQ(d->saved_ranks, 1);  // a TP=1 save (its files are __0_0 and __0_1)
    EXPECT_GE(d->weight_files, 1);
  }
}

TEST(DescribeCheckpoint, HuggingFaceFamilies) {
  for (const auto& [name, family] : {std::pair{"l_eden_a", ModelFamily::kLlama},
                                     std::pair{"m_hybrid_a", ModelFamily::kNemotronH}}) {
    const fs::path dir = CaseOrSkip(name);
    if (dir.empty()) GTEST_SKIP() << "golden case " << name << " not available";
    auto d = DescribeCheckpoint(dir);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->format, CheckpointFormat::kSafetensors) << name;
    EXPECT_EQ(d->family, family) << name;
    EXPECT_EQ(d->config_source, ConfigSource::kHfConfigJson) << name;
    EXPECT_EQ(d->weights, dir);
    EXPECT_EQ(d->weight_files, 1);
  }
}

// The family of a NeMo2 directory comes from its context/model.yaml: the model class, else the
// config class, else the layer letters (docs/spec/checkpoints.md §13). Only file names and the
// YAML are read, so an empty `.metadata` is enough here.
TEST(DescribeCheckpoint, Nemo2FamilyFromContext) {
  struct Case {
    const char* yaml;
    ModelFamily family;
  };
  const Case cases[] = {
      {"_target_: nemo.collections.llm.gpt.model.hyena.HyenaModel\nconfig:\n  "
       "hybrid_override_pattern: SDH*\n",
       ModelFamily::kHyena},
      {"_target_: bionemo.evo2.models.mamba.MambaModel\nconfig:\n  _target_: "
       "bionemo.evo2.models.mamba.HybridMambaConfig8BEvo2Loss\n",
       ModelFamily::kNemotronH},
      {"_target_: nemo.collections.llm.gpt.model.llama.LlamaModel\nconfig:\n  _target_: "
       "bionemo.evo2.models.llama.EdenConfig\n",
       ModelFamily::kLlama},
      // A generic model class defers to the config class.
      {"_target_: nemo.collections.llm.gpt.model.base.GPTModel\nconfig:\n  _target_: "
       "nemo.collections.llm.gpt.model.llama.Llama31Config8B\n",
       ModelFamily::kLlama},
      // No classes: the layer letters decide.
      {"config:\n  hybrid_override_pattern: M-M*-\n", ModelFamily::kNemotronH},
      {"config:\n  hybrid_override_pattern: SDH*\n", ModelFamily::kHyena},
  };
  for (const Case& c : cases) {
    TempDir tmp("describe_family");
    fs::create_directories(tmp / "weights");
    fs::create_directories(tmp / "context");
    tmp.Write("weights/.metadata", "");
    tmp.Write("context/model.yaml", c.yaml);
    auto d = DescribeCheckpoint(tmp.path());
    ASSERT_TRUE(d.ok()) << c.yaml << d.status();
    EXPECT_EQ(d->format, CheckpointFormat::kNemo2) << c.yaml;
    EXPECT_EQ(d->family, c.family) << c.yaml;
  }
  // A class of no family this engine runs is refused by name; broken YAML names the file.
  TempDir tmp("describe_family_bad");
  fs::create_directories(tmp / "weights");
  fs::create_directories(tmp / "context");
  tmp.Write("weights/.metadata", "");
  tmp.Write("context/model.yaml", "_target_: x.GPTModel\nconfig:\n  _target_: x.GPTConfig126M\n");
  auto gpt = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(gpt.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(gpt.status().message().find("GPTConfig126M"), std::string::npos) << gpt.status();
  tmp.Write("context/model.yaml", "config: [unclosed");
  auto broken = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("model.yaml"), std::string::npos) << broken.status();
}

TEST(DescribeCheckpoint, ClearErrors) {
  TempDir tmp("describe_errors");
  auto missing = DescribeCheckpoint(tmp / "nope.pt");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  auto empty = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("is not a checkpoint"), std::string::npos)
      << empty.status();

  tmp.Write("model.safetensors", "not really");
  auto no_config = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(no_config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_config.status().message().find("config.json"), std::string::npos);

  tmp.Write("config.json", R"({"architectures": ["GPT2LMHeadModel"]})");
  auto unknown = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(unknown.status().message().find("GPT2LMHeadModel"), std::string::npos);

  tmp.Write("config.json", "[1, 2");
  auto bad_json = DescribeCheckpoint(tmp.path());
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);

  tmp.Write("a.pt", "x");
  tmp.Write("b.pt", "y");
  auto two = DescribeCheckpoint(tmp.path());
  EXPECT_NE(two.status().message().find("several .pt files"), std::string::npos) << two.status();

  tmp.Write("m.pt.part0", "x");
  auto shard = DescribeCheckpoint(tmp / "m.pt.part0");
  EXPECT_NE(shard.status().message().find("concatenate"), std::string::npos) << shard.status();
}

}  // namespace
}  // namespace evo2
