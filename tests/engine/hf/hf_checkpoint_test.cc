// HfCheckpoint (engine/src/hf/hf_checkpoint.h): detection, config.json and tensor errors, and
// LoadModel's dispatch to the HF families.
#include "hf/hf_checkpoint.h"

#include <filesystem>
#include <fstream>

#include "evo2/checkpoint.h"
#include "evo2/model.h"
#include "evo2/safetensors.h"
#include "gtest/gtest.h"
#include "hf/hf_families.h"

namespace evo2::hf {
namespace {
namespace fs = std::filesystem;

class HfCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("evo2_hf_ckpt_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void WriteConfig(const std::string& text) { std::ofstream(dir_ / "config.json") << text; }
  void WriteWeights() {
    const float w[6] = {1, 2, 3, 4, 5, 6};
    ASSERT_TRUE(WriteSafetensors(dir_ / "model.safetensors",
                                 {{"lm_head.weight", Tensor::FromFloat32({2, 3}, w)}})
                    .ok());
  }
  fs::path dir_;
};

// DescribeCheckpoint (evo2/checkpoint.h) decides: config.json + at least one .safetensors.
TEST_F(HfCheckpointTest, DetectsConfigPlusSafetensorsOnly) {
  EXPECT_FALSE(DescribeCheckpoint(dir_).ok());
  WriteConfig(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 3})");
  EXPECT_FALSE(DescribeCheckpoint(dir_).ok());  // no weights yet
  WriteWeights();
  for (const fs::path& given : {dir_, dir_ / "model.safetensors", dir_ / "config.json"}) {
    auto d = DescribeCheckpoint(given);
    ASSERT_TRUE(d.ok()) << given << ": " << d.status();
    EXPECT_EQ(d->format, CheckpointFormat::kSafetensors);
    EXPECT_EQ(d->weights, dir_);
  }
}

TEST_F(HfCheckpointTest, ReadsConfigAndTensorsWithNamedErrors) {
  WriteConfig(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 3, "rope_theta": 5e5})");
  WriteWeights();
  auto ckpt = LoadHfCheckpoint(dir_);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->architecture, "LlamaForCausalLM");
  EXPECT_EQ(*ConfigInt(*ckpt, "hidden_size"), 3);
  EXPECT_DOUBLE_EQ(*ConfigDouble(*ckpt, "rope_theta"), 5e5);
  const auto missing_key = ConfigInt(*ckpt, "num_hidden_layers");
  EXPECT_NE(missing_key.status().message().find("num_hidden_layers"), std::string::npos);
  EXPECT_TRUE(RequireTensor(*ckpt, "lm_head.weight", {2, 3}).ok());
  const auto wrong = RequireTensor(*ckpt, "lm_head.weight", {3, 2});
  EXPECT_NE(wrong.status().message().find("lm_head.weight"), std::string::npos);
  EXPECT_FALSE(RequireTensor(*ckpt, "model.norm.weight", {3}).ok());
}

TEST_F(HfCheckpointTest, RefusesMalformedConfigAndUnknownArchitectures) {
  WriteWeights();
  WriteConfig("{not json");
  EXPECT_EQ(LoadHfCheckpoint(dir_).status().code(), absl::StatusCode::kInvalidArgument);
  WriteConfig(R"({"hidden_size": 3})");
  EXPECT_NE(LoadHfCheckpoint(dir_).status().message().find("architectures"), std::string::npos);
  WriteConfig(R"({"architectures": ["GPT2LMHeadModel"]})");
  LoadOptions options;
  options.checkpoint = dir_;
  const auto model = LoadModel(options);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(model.status().message().find("GPT2LMHeadModel"), std::string::npos);
}

// LoadModel picks the registry's loader from config.json alone, before any weights are read.
TEST_F(HfCheckpointTest, FamilyComesFromTheArchitecturesList) {
  WriteWeights();
  WriteConfig(R"({"architectures": ["NemotronHForCausalLM"]})");
  auto d = DescribeCheckpoint(dir_);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->family, ModelFamily::kNemotronH);
  WriteConfig(R"({"architectures": ["LlamaForCausalLM"]})");
  d = DescribeCheckpoint(dir_ / "model.safetensors");  // a weights file means its directory
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->family, ModelFamily::kLlama);
  WriteConfig(R"({"architectures": ["GPT2LMHeadModel"]})");
  EXPECT_EQ(DescribeCheckpoint(dir_).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace evo2::hf
