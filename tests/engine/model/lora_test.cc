// LoRA adapters merged at load (docs/spec/checkpoints.md §13): an adapter written from known
// A/B matrices gives the result of a checkpoint whose weights were merged by hand, whatever the
// adapter's container (NeMo2 TP-split, safetensors) and the base's (NeMo2, .pt); adapters that
// do not fit the base are refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "evo2/status_macros.h"
#include "evo2/model.h"
#include "evo2/safetensors.h"
#include "io/dcp_metadata.h"
#include "io/dcp_reader.h"
#include "io/dcp_writer.h"
#include "io/mapped_file.h"
#include "support/expect_contains.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
constexpr int kRank = 4;
constexpr double kAlpha = 8;

NamedTensors ReadRaw(const fs::path& weights) {
  auto file = io::MappedFile::Open(weights / ".metadata");
  auto metadata = io::ParseDcpMetadata((*file)->bytes(), "test");
  return *io::ReadDcpTensors(weights, *metadata, [](const std::string& fqn) {
    return absl::StartsWith(fqn, "module.") && !absl::EndsWith(fqn, "_extra_state");
  });
}

Tensor Random(std::vector<int64_t> shape, float sd, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(shape[0] * shape[1]));
  for (float& x : v) x = normal(rng);
  return Tensor::FromFloat32(std::move(shape), v);
}

// The LoRA transform as NeMo's fiddle serialisation saves it in context/io.json.
void WriteIoJson(const fs::path& context, const std::string& transform_class, int dim, double alpha) {
  using nlohmann::json;
  const json pyref_config = {{"type", "pyref"}, {"module", "fiddle._src.config"}, {"name", "Config"}};
  json doc;
  doc["root"] = {{"type", "ref"}, {"key", "lora_1"}};
  doc["objects"]["lora_1"] = {
      {"type", pyref_config},
      {"items", json::array({json::array({"Attr(name='dim')", dim}), json::array({"Attr(name='alpha')", alpha})})},
      {"metadata", {{"type", "ref"}, {"key", "meta_1"}}},
      {"paths", json::array({"<root>.model.model_transform"})}};
  doc["objects"]["meta_1"] = {
      {"type", {{"type", "pyref"}, {"module", "fiddle._src.config"}, {"name", "BuildableTraverserMetadata"}}},
      {"items", json::array({json::array({"Attr(name='fn_or_cls')",
                                          {{"type", "pyref"},
                                           {"module", "nemo.collections.llm.peft.lora"},
                                           {"name", transform_class}}})})}};
  doc["refcounts"] = json::object();
  doc["version"] = "0.0.1";
  fs::create_directories(context);
  testing::WriteFileBytes(context / "io.json", doc.dump(1));
}

// The golden tiny model with an adapter on every adaptable linear of every layer.
class LoraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto golden = testing::GoldenCaseDir("a_tiny6");
    ASSERT_TRUE(golden.has_value());
    golden_ = *golden;
    base_ = golden_ / "nemo2_tp1";
    raw_ = ReadRaw(base_ / "weights");
    std::mt19937 rng(11);
    for (const auto& [name, w] : raw_) {
      const bool linear = absl::EndsWith(name, "dense_projection.weight") || absl::EndsWith(name, "mixer.dense.weight") ||
                          absl::EndsWith(name, "linear_qkv.weight") || absl::EndsWith(name, "linear_proj.weight") ||
                          absl::EndsWith(name, "linear_fc1.weight") || absl::EndsWith(name, "linear_fc2.weight");
      if (!linear) continue;
      const std::string prefix = name.substr(0, name.size() - std::string(".weight").size());
      // Updates a sizeable fraction of the weights' own scale, so that the adapter changes the
      // log-probs far beyond the tolerance (checked below).
      adapter_.emplace_back(prefix + ".adapter.linear_in.weight", Random({kRank, w.dim(1)}, 0.05f, rng));
      adapter_.emplace_back(prefix + ".adapter.linear_out.weight", Random({w.dim(0), kRank}, 0.05f, rng));
    }
    ASSERT_GE(adapter_.size(), 10u);
    for (int i = 0; i < 200; ++i) tokens_.push_back(static_cast<int32_t>("ACGT"[(i * 7 + i / 3) % 4]));
  }

  // W + (alpha/r)·B·A in double, rounded once to fp32: the hand merge the engine must match.
  fs::path WriteHandMerged() {
    NamedTensors merged;
    for (const auto& [name, w] : raw_) {
      const std::string prefix = name.substr(0, name.size() - std::string(".weight").size());
      const Tensor* a = Find(prefix + ".adapter.linear_in.weight");
      const Tensor* b = Find(prefix + ".adapter.linear_out.weight");
      if (a == nullptr) {
        merged.emplace_back(name, w);
        continue;
      }
      const auto wv = w.ToFloat32().value(), av = a->ToFloat32().value(), bv = b->ToFloat32().value();
      const int64_t out = w.dim(0), in = w.dim(1);
      std::vector<float> m(wv.size());
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < in; ++i) {
          double acc = 0;
          for (int k = 0; k < kRank; ++k) acc += static_cast<double>(bv[o * kRank + k]) * av[k * in + i];
          m[o * in + i] = static_cast<float>(wv[o * in + i] + kAlpha / kRank * acc);
        }
      }
      merged.emplace_back(name, Tensor::FromFloat32({out, in}, m));
    }
    const fs::path dir = tmp_.path() / "merged";
    EXPECT_TRUE(io::WriteDcpCheckpoint(dir / "weights", merged).ok());
    fs::create_directories(dir / "context");
    fs::copy_file(base_ / "context" / "model.yaml", dir / "context" / "model.yaml");
    return dir;
  }

  fs::path WriteNemoAdapter(const NamedTensors& tensors, const std::string& transform_class = "LoRA") {
    const fs::path dir = tmp_.path() / ("adapter" + std::to_string(++written_));
    EXPECT_TRUE(io::WriteDcpCheckpoint(dir / "weights", tensors, {2}).ok());  // as saved with TP=2
    WriteIoJson(dir / "context", transform_class, kRank, kAlpha);
    return dir;
  }

  const Tensor* Find(const std::string& name) const {
    for (const auto& [n, t] : adapter_) {
      if (n == name) return &t;
    }
    return nullptr;
  }

  absl::StatusOr<std::vector<float>> LogProbs(const fs::path& ckpt, std::optional<fs::path> lora) {
    LoadOptions lo;
    lo.checkpoint = ckpt;
    lo.lora_adapter = std::move(lora);
    ASSIGN_OR_RETURN(auto model, LoadModel(lo));
    ASSIGN_OR_RETURN(auto result, model->Forward(tokens_, ForwardOptions{}));
    return result.log_probs;
  }

  fs::path golden_, base_;
  NamedTensors raw_, adapter_;
  std::vector<int32_t> tokens_;
  testing::TempDir tmp_{"lora"};
  int written_ = 0;
};

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    m = std::isnan(d) ? INFINITY : std::max(m, d);
  }
  return m;
}

TEST_F(LoraTest, AdapterEqualsHandMergedCheckpoint) {
  auto with_adapter = LogProbs(base_, WriteNemoAdapter(adapter_));
  ASSERT_TRUE(with_adapter.ok()) << with_adapter.status();
  auto hand_merged = LogProbs(WriteHandMerged(), std::nullopt);
  ASSERT_TRUE(hand_merged.ok()) << hand_merged.status();
  auto plain = LogProbs(base_, std::nullopt);
  ASSERT_TRUE(plain.ok()) << plain.status();
  // Both merges round W + (alpha/r)·B·A, computed in double, once to fp32, so the weights agree
  // to the last bit but for rare ties (in practice the log-probs are identical); 1e-5 is the
  // fp32 CPU bound the engine promises for merged adapters.
  EXPECT_LE(MaxAbsDiff(*with_adapter, *hand_merged), 1e-5);
  // The adapter is not a no-op: otherwise the comparison above proves nothing.
  EXPECT_GT(MaxAbsDiff(*with_adapter, *plain), 1e-2);
}

TEST_F(LoraTest, SafetensorsAdapterAndPtBaseGiveTheSameResult) {
  auto nemo = LogProbs(base_, WriteNemoAdapter(adapter_));
  ASSERT_TRUE(nemo.ok()) << nemo.status();
  const fs::path st = tmp_.path() / "adapter.safetensors";
  ASSERT_TRUE(WriteSafetensors(st, adapter_, {{"alpha", "8"}, {"dim", "4"}}).ok());
  auto from_safetensors = LogProbs(base_, st);
  ASSERT_TRUE(from_safetensors.ok()) << from_safetensors.status();
  EXPECT_LE(MaxAbsDiff(*nemo, *from_safetensors), 0.0);  // the same tensors, the same merge
  // The vortex .pt of the same model (engine names) takes the NeMo-named adapter too.
  auto from_pt = LogProbs(golden_ / "model.pt", st);
  ASSERT_TRUE(from_pt.ok()) << from_pt.status();
  EXPECT_LE(MaxAbsDiff(*nemo, *from_pt), 1e-5);
}

TEST_F(LoraTest, MismatchingAdaptersAreRefusedByName) {
  const std::string fc1 = "module.decoder.layers.0.mlp.linear_fc1";
  auto refuse = [&](const NamedTensors& tensors, absl::StatusCode code, const std::string& needle) {
    auto r = LogProbs(base_, WriteNemoAdapter(tensors));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status();
    EVO2_EXPECT_CONTAINS(std::string(r.status().message()), needle);
  };
  std::mt19937 rng(3);
  const Tensor& a = *Find(fc1 + ".adapter.linear_in.weight");
  const Tensor& b = *Find(fc1 + ".adapter.linear_out.weight");
  // A layer the base does not have.
  refuse({{"module.decoder.layers.99.mlp.linear_fc1.adapter.linear_in.weight", a},
          {"module.decoder.layers.99.mlp.linear_fc1.adapter.linear_out.weight", b}},
         absl::StatusCode::kNotFound, "module.decoder.layers.99.mlp.linear_fc1.adapter.linear_in.weight");
  // The wrong input width.
  refuse({{fc1 + ".adapter.linear_in.weight", Random({kRank, a.dim(1) + 1}, 0.1f, rng)},
          {fc1 + ".adapter.linear_out.weight", b}},
         absl::StatusCode::kInvalidArgument, fc1 + ".adapter.linear_in.weight");
  // A layer that is not a linear this engine merges.
  refuse({{"module.decoder.layers.0.mixer.mixer.filter.adapter.linear_in.weight", a},
          {"module.decoder.layers.0.mixer.mixer.filter.adapter.linear_out.weight", b}},
         absl::StatusCode::kUnimplemented, "decoder.layers.0.mixer.mixer.filter.weight");
  // Half an adapter.
  refuse({{fc1 + ".adapter.linear_in.weight", a}}, absl::StatusCode::kInvalidArgument, "has no matching");
  // Something that is not an adapter weight at all.
  refuse({{"module.decoder.layers.0.mlp.linear_fc1.weight", b}}, absl::StatusCode::kInvalidArgument,
         "is not a LoRA adapter weight");
  // A rank that disagrees with the saved dim.
  refuse({{fc1 + ".adapter.linear_in.weight", Random({kRank + 1, a.dim(1)}, 0.1f, rng)},
          {fc1 + ".adapter.linear_out.weight", Random({b.dim(0), kRank + 1}, 0.1f, rng)}},
         absl::StatusCode::kInvalidArgument, "dim is 4");
  // Canonical LoRA computes separate q/k/v updates: refused, not merged as if fused.
  auto canonical = LogProbs(base_, WriteNemoAdapter(adapter_, "CanonicalLoRA"));
  ASSERT_FALSE(canonical.ok());
  EVO2_EXPECT_CONTAINS(std::string(canonical.status().message()), "CanonicalLoRA");
  // A safetensors adapter without alpha.
  const fs::path st = tmp_.path() / "no_alpha.safetensors";
  ASSERT_TRUE(WriteSafetensors(st, adapter_).ok());
  auto no_alpha = LogProbs(base_, st);
  ASSERT_FALSE(no_alpha.ok());
  EVO2_EXPECT_CONTAINS(std::string(no_alpha.status().message()), "no LoRA alpha");
  // A path that is nothing.
  auto missing = LogProbs(base_, tmp_.path() / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LoraTest, OtherFamiliesRefuseAdapters) {
  auto eden = testing::GoldenCaseDir("l_eden_a");
  ASSERT_TRUE(eden.has_value());
  fs::path hf;
  for (const auto& e : fs::directory_iterator(*eden)) {
    if (fs::exists(e.path() / "config.json")) hf = e.path();
  }
  if (fs::exists(*eden / "config.json")) hf = *eden;
  ASSERT_FALSE(hf.empty()) << "no HF checkpoint in " << eden->string();
  auto r = LogProbs(hf, WriteNemoAdapter(adapter_));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  EVO2_EXPECT_CONTAINS(std::string(r.status().message()), "Evo 2 (Hyena) checkpoints only");
}

}  // namespace
}  // namespace evo2
