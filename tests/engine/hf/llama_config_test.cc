// Llama ("Eden") checkpoint loading (engine/src/hf/llama_config.h, llama_weights.h): config.json
// spellings and named errors, tensor shape checks, tied embeddings, the llama3 RoPE
// frequencies, and the factory's refusals. Built on the l_eden_a checkpoint (in-repo subset).
#include "hf/llama_config.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "evo2/model.h"
#include "evo2/safetensors.h"
#include "gtest/gtest.h"
#include "hf/hf_checkpoint.h"
#include "hf/hf_families.h"
#include "nlohmann/json.hpp"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2::hf {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<int32_t> kTokens = {65, 67, 71, 84, 84, 97, 78, 65, 67, 71, 71, 84};

class LlamaConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto golden = evo2::testing::GoldenCaseDir("l_eden_a");
    if (!golden) GTEST_SKIP() << "golden case l_eden_a not present";
    golden_ = *golden;
    dir_ = fs::temp_directory_path() /
           ("evo2_llama_cfg_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ifstream in(golden_ / "config.json");
    config_ = json::parse(in);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Writes config_ and the golden weights (or `tensors` when given) into dir_.
  void Write(const NamedTensors* tensors = nullptr) {
    std::ofstream(dir_ / "config.json") << config_.dump(2);
    if (tensors == nullptr) {
      fs::copy_file(golden_ / "model.safetensors", dir_ / "model.safetensors",
                    fs::copy_options::overwrite_existing);
    } else {
      ASSERT_TRUE(WriteSafetensors(dir_ / "model.safetensors", *tensors).ok());
    }
  }
  absl::StatusOr<std::unique_ptr<Model>> Load(const fs::path& dir, Device device = Device::kCpu,
                                              Precision precision = Precision::kDefault) {
    LoadOptions opts;
    opts.checkpoint = dir;
    opts.device = device;
    opts.precision = precision;
    return LoadModel(opts);
  }
  std::vector<float> Logits(Model& m) {
    ForwardOptions o;
    o.logits = true;
    auto r = m.Forward(kTokens, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->logits : std::vector<float>{};
  }
  // The error of loading dir_ after Write().
  absl::Status LoadError() {
    Write();
    auto m = Load(dir_);
    EXPECT_FALSE(m.ok());
    return m.ok() ? absl::OkStatus() : m.status();
  }

  fs::path golden_, dir_;
  json config_;
};

// ω_j against golden/l_eden_a/README.md's table (HF's fp32 values): j ≤ 2 untouched (λ < 64),
// j = 3, 4 interpolated, j ≥ 5 divided by 8. Relative 1e-6: the same fp32 operations as HF
// give the same values up to an ulp or two (~1.2e-7 each); a wrong branch is off by ≥ 15 %.
TEST_F(LlamaConfigTest, Llama3FrequenciesMatchTransformers) {
  auto ckpt = LoadHfCheckpoint(golden_);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto c = ParseLlamaConfig(*ckpt);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->rope.llama3);
  const std::vector<float> w = LlamaInverseFrequencies(*c);
  ASSERT_EQ(w.size(), 16u);
  const std::vector<std::pair<int, double>> want = {
      {0, 1.000000000e+00}, {1, 4.403666258e-01}, {2, 1.939227581e-01}, {3, 7.243003696e-02},
      {4, 1.053823065e-02}, {5, 2.070055110e-03}, {8, 1.767766807e-04}, {15, 5.677088097e-07}};
  for (const auto& [j, v] : want) EXPECT_NEAR(w[j], v, 1e-6 * v) << "j = " << j;
}

TEST_F(LlamaConfigTest, OlderRopeSpellingGivesTheSameModel) {
  auto base = Load(golden_);
  ASSERT_TRUE(base.ok()) << base.status();
  json rope = config_["rope_parameters"];
  config_.erase("rope_parameters");
  config_["rope_theta"] = rope["rope_theta"];
  rope.erase("rope_theta");
  rope.erase("rope_type");
  rope["type"] = "llama3";  // the pre-4.45 key
  config_["rope_scaling"] = rope;
  Write();
  auto older = Load(dir_);
  ASSERT_TRUE(older.ok()) << older.status();
  const auto a = Logits(**base), b = Logits(**older);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // identical computation, bit for bit
  // Without scaling the model differs (README: by up to 2–3 on len00500's logits).
  config_["rope_scaling"] = nullptr;
  Write();
  auto plain = Load(dir_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_GT(evo2::testing::MaxAbsDiff(Logits(**plain), a), 1e-3);
}

TEST_F(LlamaConfigTest, MissingKeyIsNamed) {
  config_.erase("num_hidden_layers");
  const absl::Status s = LoadError();
  EXPECT_NE(s.message().find("num_hidden_layers"), std::string::npos) << s;
  EXPECT_NE(s.message().find("config.json"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, MissingRopeIsNamed) {
  config_.erase("rope_parameters");
  const absl::Status s = LoadError();
  EXPECT_NE(s.message().find("rope_theta"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, Llama3WithoutItsKeysIsNamed) {
  config_["rope_parameters"].erase("low_freq_factor");
  const absl::Status s = LoadError();
  EXPECT_NE(s.message().find("rope_parameters.low_freq_factor"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, UnsupportedRopeTypeIsRefused) {
  config_["rope_parameters"]["rope_type"] = "yarn";
  const absl::Status s = LoadError();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(s.message().find("yarn"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, BiasesAndOtherActivationsAreRefused) {
  config_["attention_bias"] = true;
  absl::Status s = LoadError();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(s.message().find("attention_bias"), std::string::npos) << s;
  config_["attention_bias"] = false;
  config_["hidden_act"] = "gelu";
  s = LoadError();
  EXPECT_NE(s.message().find("hidden_act"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, HeadsNotDivisibleByKvHeadsIsRefused) {
  config_["num_key_value_heads"] = 3;
  const absl::Status s = LoadError();
  EXPECT_NE(s.message().find("num_key_value_heads"), std::string::npos) << s;
}

TEST_F(LlamaConfigTest, TensorShapeMismatchNamesTheTensor) {
  config_["intermediate_size"] = 300;
  absl::Status s = LoadError();
  EXPECT_NE(s.message().find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << s;
  config_["intermediate_size"] = 256;
  config_["num_hidden_layers"] = 5;  // one layer more than stored
  s = LoadError();
  EXPECT_NE(s.message().find("model.layers.4."), std::string::npos) << s;
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s;
}

// tie_word_embeddings: no lm_head.weight needed, the head is the embedding. Same logits as an
// untied checkpoint whose lm_head is a copy of the embedding.
TEST_F(LlamaConfigTest, TiedEmbeddingsUseTheEmbeddingAsHead) {
  auto st = ReadSafetensors(golden_ / "model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  NamedTensors untied, tied;
  Tensor embedding;
  for (const auto& [name, t] : st->tensors) {
    if (name == "model.embed_tokens.weight") embedding = t;
  }
  for (const auto& [name, t] : st->tensors) {
    if (name == "lm_head.weight") {
      untied.emplace_back(name, embedding);
    } else {
      untied.emplace_back(name, t);
      tied.emplace_back(name, t);
    }
  }
  Write(&untied);
  auto a = Load(dir_);
  ASSERT_TRUE(a.ok()) << a.status();
  const auto logits_untied = Logits(**a);
  config_["tie_word_embeddings"] = true;
  Write(&tied);
  auto b = Load(dir_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(Logits(**b), logits_untied);
  // Tied but with a stored lm_head that is not the embedding: refused, naming both.
  Write();
  auto c = Load(dir_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("lm_head.weight"), std::string::npos) << c.status();
}

// The registry refuses devices the family has no loader for; the factory itself refuses
// precisions other than fp32 (this checks the family's own message).
TEST_F(LlamaConfigTest, CudaAndBf16AreRefusedForNow) {
  auto create = [&](Device device, Precision precision) {
    auto ckpt = LoadHfCheckpoint(golden_);
    EXPECT_TRUE(ckpt.ok()) << ckpt.status();
    LoadOptions opts;
    opts.checkpoint = golden_;
    opts.device = device;
    opts.precision = precision;
    return CreateLlamaModel(std::move(*ckpt), opts);
  };
  // Devices are the registry's business: LoadModel finds no Llama loader for cuda.
  auto gpu = Load(golden_, Device::kCuda);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(gpu.status().message().find("the Llama family has no 'cuda' backend"),
            std::string::npos)
      << gpu.status();
  auto bf16 = create(Device::kCpu, Precision::kBf16);
  ASSERT_FALSE(bf16.ok());
  EXPECT_EQ(bf16.status().code(), absl::StatusCode::kUnimplemented);
  auto fp32 = create(Device::kCpu, Precision::kFp32);
  EXPECT_TRUE(fp32.ok()) << fp32.status();
}

TEST_F(LlamaConfigTest, BadForwardRequestsAreRefused) {
  auto m = Load(golden_);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->config().family, ModelFamily::kLlama);
  EXPECT_EQ((*m)->config().num_layers, 4);
  EXPECT_EQ((*m)->config().head_dim, 32);
  ForwardOptions o;
  EXPECT_FALSE((*m)->Forward(std::vector<int32_t>{}, o).ok());
  EXPECT_FALSE((*m)->Forward(std::vector<int32_t>{65, 512}, o).ok());
  o.hidden_after_blocks = {4};
  EXPECT_FALSE((*m)->Forward(kTokens, o).ok());
  o.hidden_after_blocks.clear();
  o.layers = {"blocks.3.mlp"};  // sub-layers have no name in the HF families
  auto r = (*m)->Forward(kTokens, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("whole layers only"), std::string::npos) << r.status();
  o.layers = {"decoder.layers.4"};
  EXPECT_FALSE((*m)->Forward(kTokens, o).ok());
}

}  // namespace
}  // namespace evo2::hf
