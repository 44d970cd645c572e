// Building a NemotronH model from config.json + safetensors (engine/src/hf/nemotron_h_config.h,
// nemotron_h_weights.h): every refusal names the key / tensor / file, and the accepted spellings
// (legacy hybrid_override_pattern, `model.` prefix) give the same model. The checkpoints are the
// golden case m_hybrid_a with an edited config or renamed tensors, written to a temp directory.
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/safetensors.h"
#include "gtest/gtest.h"
#include "hf/hf_checkpoint.h"
#include "hf/hf_families.h"
#include "hf/nemotron_h_config.h"
#include "nlohmann/json.hpp"
#include "support/golden_paths.h"

namespace evo2::hf {
namespace {

namespace fs = std::filesystem;

class NemotronHConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto src = evo2::testing::GoldenCaseDir("m_hybrid_a");
    if (!src) GTEST_SKIP() << "golden case m_hybrid_a not present";
    src_ = *src;
    std::ifstream in(src_ / "config.json");
    config_ = nlohmann::json::parse(in);
    dir_ = fs::temp_directory_path() /
           ("evo2_nemotron_h_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(src_ / "model.safetensors", dir_ / "model.safetensors");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Writes the (edited) config and loads the directory as LoadModel would.
  absl::StatusOr<std::unique_ptr<Model>> Load(const LoadOptions& base = {}) {
    std::ofstream(dir_ / "config.json") << config_.dump(2);
    LoadOptions opts = base;
    opts.checkpoint = dir_;
    return LoadModel(opts);
  }
  // The load fails with `code` and a message containing `needle`.
  void ExpectError(absl::StatusCode code, const std::string& needle) {
    auto m = Load();
    ASSERT_FALSE(m.ok()) << "expected an error mentioning " << needle;
    EXPECT_EQ(m.status().code(), code) << m.status();
    EXPECT_NE(m.status().message().find(needle), std::string::npos) << m.status();
  }

  fs::path src_, dir_;
  nlohmann::json config_;
};

TEST_F(NemotronHConfigTest, ReadsTheGoldenConfig) {
  auto ckpt = LoadHfCheckpoint(src_);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto c = NemotronHConfigFromCheckpoint(*ckpt);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Pattern(), "M-M*-M-");
  EXPECT_EQ(c->hidden_size, 128);
  EXPECT_EQ(c->MambaInner(), 256);
  EXPECT_EQ(c->ConvChannels(), 384);
  EXPECT_EQ(c->InProjRows(), 648);  // README: 2·d_inner + 2·G·N + n_h
  EXPECT_EQ(c->attention_head_dim, 32);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_FLOAT_EQ(c->eps, 1e-5f);
  EXPECT_FALSE(c->tie_word_embeddings);
}

TEST_F(NemotronHConfigTest, AcceptsTheLegacyPatternKey) {
  config_.erase("layers_block_type");
  config_["hybrid_override_pattern"] = "M-M*-M-";
  auto m = Load();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->config().num_layers, 7);
}

TEST_F(NemotronHConfigTest, RefusesPatternProblemsByKey) {
  config_["hybrid_override_pattern"] = "M-M*-MM";
  ExpectError(absl::StatusCode::kInvalidArgument, "hybrid_override_pattern");
  config_["hybrid_override_pattern"] = "M-M*-ME";
  config_.erase("layers_block_type");
  ExpectError(absl::StatusCode::kUnimplemented, "mixture of experts");
  config_["hybrid_override_pattern"] = "M-M*-MX";
  ExpectError(absl::StatusCode::kInvalidArgument, "'X' at layer 6");
  config_.erase("hybrid_override_pattern");
  ExpectError(absl::StatusCode::kInvalidArgument, "no layer pattern");
  config_["layers_block_type"] = {"linear_attention", "moe"};
  ExpectError(absl::StatusCode::kUnimplemented, "layers_block_type[1] is 'moe'");
}

TEST_F(NemotronHConfigTest, RefusesMissingOrInconsistentKeys) {
  for (const char* key : {"hidden_size", "mamba_num_heads", "ssm_state_size", "n_groups",
                          "conv_kernel", "num_key_value_heads", "intermediate_size",
                          "layer_norm_epsilon", "vocab_size"}) {
    SCOPED_TRACE(key);
    const nlohmann::json saved = config_[key];
    config_.erase(key);
    ExpectError(absl::StatusCode::kInvalidArgument, std::string("'") + key + "'");
    config_[key] = saved;
  }
  config_["n_groups"] = 3;  // does not divide 8 heads
  ExpectError(absl::StatusCode::kInvalidArgument, "n_groups");
  config_["n_groups"] = 2;
  config_["num_key_value_heads"] = 3;
  ExpectError(absl::StatusCode::kInvalidArgument, "num_key_value_heads");
  config_["num_key_value_heads"] = 2;
  config_["num_hidden_layers"] = 6;
  ExpectError(absl::StatusCode::kInvalidArgument, "num_hidden_layers");
}

TEST_F(NemotronHConfigTest, RefusesUnimplementedConventionsByKey) {
  config_["mlp_hidden_act"] = "silu";
  ExpectError(absl::StatusCode::kUnimplemented, "mlp_hidden_act");
  config_["mlp_hidden_act"] = "relu2";
  config_["use_bias"] = true;
  ExpectError(absl::StatusCode::kUnimplemented, "use_bias");
  config_["use_bias"] = false;
  config_["attention_bias"] = true;
  ExpectError(absl::StatusCode::kUnimplemented, "attention_bias");
  config_["attention_bias"] = false;
  config_["mamba_hidden_act"] = "gelu";
  ExpectError(absl::StatusCode::kUnimplemented, "mamba_hidden_act");
}

TEST_F(NemotronHConfigTest, ChecksEveryTensorShapeAndRefusesUnusedTensors) {
  config_["ssm_state_size"] = 16;  // in_proj would have 520 rows
  ExpectError(absl::StatusCode::kInvalidArgument, "backbone.layers.0.mixer.in_proj.weight");
  config_["ssm_state_size"] = 32;
  config_["intermediate_size"] = 512;
  ExpectError(absl::StatusCode::kInvalidArgument, "backbone.layers.1.mixer.up_proj.weight");
  config_["intermediate_size"] = 256;
  config_["head_dim"] = 16;
  ExpectError(absl::StatusCode::kInvalidArgument, "backbone.layers.3.mixer.q_proj.weight");
  config_["head_dim"] = 32;
  // One layer fewer than the file holds: layer 6's tensors are not part of the model.
  config_["layers_block_type"].erase(6);
  ExpectError(absl::StatusCode::kInvalidArgument, "backbone.layers.6.");
  // An MLP layer where the file has a Mamba layer: its tensors are missing.
  config_["layers_block_type"] = {"mlp", "mlp", "linear_attention", "full_attention", "mlp",
                                  "linear_attention", "mlp"};
  ExpectError(absl::StatusCode::kNotFound, "backbone.layers.0.mixer.up_proj.weight");
}

TEST_F(NemotronHConfigTest, AcceptsTheModelPrefixWithIdenticalOutputs) {
  auto reference = Load();
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto st = ReadSafetensors(src_ / "model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  NamedTensors renamed;
  for (const auto& [name, t] : st->tensors) {
    const std::string prefix = "backbone.";
    renamed.emplace_back(name.rfind(prefix, 0) == 0 ? "model." + name.substr(prefix.size()) : name,
                         t);
  }
  fs::remove(dir_ / "model.safetensors");
  ASSERT_TRUE(WriteSafetensors(dir_ / "model.safetensors", renamed).ok());
  auto m = Load();
  ASSERT_TRUE(m.ok()) << m.status();
  const int32_t tokens[] = {65, 67, 71, 84, 84, 65, 78, 97, 99};
  auto a = (*reference)->Forward(tokens, ForwardOptions{});
  auto b = (*m)->Forward(tokens, ForwardOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->log_probs, b->log_probs);
}

TEST_F(NemotronHConfigTest, RunsOnTheCpuInFp32Only) {
  LoadOptions cuda;
  cuda.checkpoint = src_;
  cuda.device = Device::kCuda;
  auto on_cuda = LoadModel(cuda);  // the registry has no (NemotronH, cuda) loader
  EXPECT_EQ(on_cuda.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(on_cuda.status().message().find("the NemotronH family has no 'cuda' backend"),
            std::string::npos)
      << on_cuda.status();
  auto ckpt = LoadHfCheckpoint(src_);
  ASSERT_TRUE(ckpt.ok());
  LoadOptions bf16;
  bf16.precision = Precision::kBf16;
  auto in_bf16 = CreateNemotronHModel(*ckpt, bf16);
  EXPECT_EQ(in_bf16.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(in_bf16.status().message().find("bf16"), std::string::npos);
  LoadOptions fp32;
  fp32.precision = Precision::kFp32;
  fp32.threads = 1;
  EXPECT_TRUE(CreateNemotronHModel(*ckpt, fp32).ok());
}

}  // namespace
}  // namespace evo2::hf
