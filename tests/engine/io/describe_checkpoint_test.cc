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
