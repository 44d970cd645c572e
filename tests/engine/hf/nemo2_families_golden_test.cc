// NeMo2 checkpoints of the Mamba-2 hybrid and Llama/Eden families (docs/spec/checkpoints.md §13):
// each golden HF case (m_hybrid_a, l_eden_a in the repository; m_hybrid_b, l_eden_b from
// ../shared/golden when present) is rewritten as the NeMo2 checkpoint BioNeMo would save
// (support/nemo2_family_writer.h: context files, split Mamba parts, stacked Llama layers, qkv per
// KV group), once as a single-rank save and once as a TP=2 save, and loaded back with LoadModel.
//
// The NeMo2 checkpoint holds the same bf16 weights, so the model built from it must compute the
// same numbers as the one built from the HF directory: logits and log-probs are compared bit for
// bit (no tolerance; every value must also be finite, so NaN never passes). The golden logits are
// checked too (1e-4 max-abs, the HF golden tests' tolerance), so that "equal" is not "equally
// wrong". Bad checkpoints (a key missing, of the wrong shape, left over) and disagreeing
// --model-size presets must give an error naming the key or field.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"
#include "support/nemo2_family_writer.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {
namespace fs = std::filesystem;

using evo2::testing::GoldenCaseDir;
using evo2::testing::MaxAbsDiff;
using evo2::testing::Nemo2FamilyWriteOptions;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;
using evo2::testing::TempDir;
using evo2::testing::WriteNemo2FromHf;

// The HF golden tests' tolerance against the golden logits (llama_golden_test.cc).
constexpr double kGoldenTol = 1e-4;

struct Param {
  std::string case_name;
  int tp;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.case_name << "/tp" << p.tp; }

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return info.param.case_name + "_tp" + std::to_string(info.param.tp);
}

ModelFamily FamilyOf(const std::string& case_name) {
  return case_name[0] == 'm' ? ModelFamily::kNemotronH : ModelFamily::kLlama;
}

bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Nemo2FamilyGolden : public ::testing::TestWithParam<Param> {};

TEST_P(Nemo2FamilyGolden, SameLogitsAsTheHfCheckpoint) {
  const auto hf_dir = GoldenCaseDir(GetParam().case_name);
  if (!hf_dir) GTEST_SKIP() << "golden case " << GetParam().case_name << " not present";
  TempDir tmp("nemo2fam");
  const fs::path nemo2 = tmp.path() / "nemo2";
  Nemo2FamilyWriteOptions write;
  write.tp = GetParam().tp;
  ASSERT_TRUE(WriteNemo2FromHf(*hf_dir, nemo2, write).ok());

  auto desc = DescribeCheckpoint(nemo2);
  ASSERT_TRUE(desc.ok()) << desc.status();
  EXPECT_EQ(desc->format, CheckpointFormat::kNemo2);
  EXPECT_EQ(desc->family, FamilyOf(GetParam().case_name));
  EXPECT_EQ(desc->config_source, ConfigSource::kNemoModelYaml);
  EXPECT_EQ(desc->saved_ranks, GetParam().tp);

  LoadOptions from_hf, from_nemo2;
  from_hf.checkpoint = *hf_dir;
  from_nemo2.checkpoint = nemo2;
  auto hf = LoadModel(from_hf);
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto nemo = LoadModel(from_nemo2);
  ASSERT_TRUE(nemo.ok()) << nemo.status();
  EXPECT_EQ((*nemo)->config().family, FamilyOf(GetParam().case_name));
  EXPECT_EQ((*nemo)->config().num_layers, (*hf)->config().num_layers);

  ForwardOptions opts;
  opts.logits = true;
  opts.log_probs = true;
  for (const char* record : {"len00017", "len00500"}) {
    const fs::path prefix = *hf_dir / record;
    const std::vector<int32_t> tokens = ReadNpyTokens(prefix.string() + ".tokens.npy");
    ASSERT_FALSE(tokens.empty()) << record;
    auto want = (*hf)->Forward(tokens, opts);
    ASSERT_TRUE(want.ok()) << want.status();
    auto got = (*nemo)->Forward(tokens, opts);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->logits.size(), tokens.size() * 512) << record;
    EXPECT_TRUE(AllFinite(got->logits) && AllFinite(got->log_probs)) << record;
    EXPECT_TRUE(BitEqual(got->logits, want->logits))
        << record << ": logits differ from the HF checkpoint's by up to "
        << MaxAbsDiff(got->logits, want->logits);
    EXPECT_TRUE(BitEqual(got->log_probs, want->log_probs)) << record << ": log-probs differ";
    EXPECT_LE(MaxAbsDiff(got->logits, ReadNpyFloats(prefix.string() + ".logits.npy")), kGoldenTol)
        << record;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Nemo2FamilyGolden,
                         ::testing::Values(Param{"m_hybrid_a", 1}, Param{"m_hybrid_a", 2},
                                           Param{"l_eden_a", 1}, Param{"l_eden_a", 2},
                                           Param{"m_hybrid_b", 1}, Param{"m_hybrid_b", 2},
                                           Param{"l_eden_b", 1}, Param{"l_eden_b", 2}),
                         ParamName);

// ---- Other layouts a NeMo2 checkpoint may have ------------------------------------------------

// `t` with `extra` zero rows appended (dim 0).
Tensor PadRows(const Tensor& t, int64_t extra) {
  std::vector<std::byte> bytes(t.bytes().begin(), t.bytes().end());
  bytes.resize(bytes.size() +
               static_cast<size_t>(extra) * (t.nbytes() / static_cast<size_t>(t.dim(0))));
  std::vector<int64_t> shape = t.shape();
  shape[0] += extra;
  return *Tensor::FromBytes(t.dtype(), shape, bytes);
}

// Logits of len00017 from the HF directory and from its NeMo2 copy written with `options`.
void ExpectSameLogits(const std::string& case_name, const Nemo2FamilyWriteOptions& options) {
  const auto hf_dir = GoldenCaseDir(case_name);
  if (!hf_dir) GTEST_SKIP() << "golden case " << case_name << " not present";
  TempDir tmp("nemo2fam_layout");
  ASSERT_TRUE(WriteNemo2FromHf(*hf_dir, tmp.path() / "nemo2", options).ok());
  LoadOptions from_hf, from_nemo2;
  from_hf.checkpoint = *hf_dir;
  from_nemo2.checkpoint = tmp.path() / "nemo2";
  auto hf = LoadModel(from_hf);
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto nemo = LoadModel(from_nemo2);
  ASSERT_TRUE(nemo.ok()) << nemo.status();
  const std::vector<int32_t> tokens = ReadNpyTokens(*hf_dir / "len00017.tokens.npy");
  ForwardOptions opts;
  opts.logits = true;
  auto want = (*hf)->Forward(tokens, opts);
  auto got = (*nemo)->Forward(tokens, opts);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_TRUE(AllFinite(got->logits));
  EXPECT_TRUE(BitEqual(got->logits, want->logits)) << MaxAbsDiff(got->logits, want->logits);
}

// Megatron pads the vocabulary to make_vocab_size_divisible_by x TP; rows past 512 are unused.
TEST(Nemo2FamilyLayouts, PaddedVocabulary) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name == "module.embedding.word_embeddings.weight" ||
          name == "module.output_layer.weight") {
        tensor = PadRows(tensor, 128);
      }
    }
  };
  ExpectSameLogits("l_eden_a", o);
  ExpectSameLogits("m_hybrid_a", o);
}

// Megatron's non-homogeneous save keeps one key per layer (decoder.layers.<l>.…) instead of
// stacking them.
TEST(Nemo2FamilyLayouts, LlamaLayersSavedOnePerKey) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) {
    NamedTensors out;
    const std::string stacked = "module.decoder.layers.";
    for (auto& [name, tensor] : t) {
      if (name.rfind(stacked, 0) != 0) {
        out.emplace_back(name, tensor);
        continue;
      }
      const size_t per_layer = tensor.nbytes() / static_cast<size_t>(tensor.dim(0));
      std::vector<int64_t> shape(tensor.shape().begin() + 1, tensor.shape().end());
      for (int64_t l = 0; l < tensor.dim(0); ++l) {
        out.emplace_back(stacked + std::to_string(l) + "." + name.substr(stacked.size()),
                         *Tensor::FromBytes(tensor.dtype(), shape,
                                            tensor.bytes().subspan(
                                                static_cast<size_t>(l) * per_layer, per_layer)));
      }
    }
    t = std::move(out);
  };
  ExpectSameLogits("l_eden_a", o);
}

// The in-memory (unsplit) Mamba in_proj and conv1d names, as a tool writing the model's own
// state dict would store them.
TEST(Nemo2FamilyLayouts, MambaPartsUnsplit) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) {
    std::map<std::string, std::vector<Tensor>> parts;  // base -> parts in stored order
    NamedTensors out;
    for (auto& [name, tensor] : t) {
      const size_t dot = name.rfind('.');
      const std::string suffix = name.substr(dot + 1), base = name.substr(0, dot);
      const bool part = (name.find(".in_proj.weight.") != std::string::npos ||
                         name.find(".conv1d.weight.") != std::string::npos ||
                         name.find(".conv1d.bias.") != std::string::npos);
      if (!part) {
        out.emplace_back(name, tensor);
        continue;
      }
      if (parts[base].empty()) out.emplace_back(base, Tensor());  // placeholder, keeps the order
      parts[base].push_back(tensor);
    }
    for (auto& [name, tensor] : out) {
      auto it = parts.find(name);
      if (it == parts.end()) continue;
      std::vector<std::byte> bytes;
      std::vector<int64_t> shape = it->second[0].shape();
      shape[0] = 0;
      for (const Tensor& p : it->second) {
        bytes.insert(bytes.end(), p.bytes().begin(), p.bytes().end());
        shape[0] += p.dim(0);
      }
      tensor = *Tensor::FromBytes(it->second[0].dtype(), shape, bytes);
    }
    t = std::move(out);
  };
  ExpectSameLogits("m_hybrid_a", o);
}

// ---- Bad checkpoints: the error names the key or the field ---------------------------------

// Loads a NeMo2 copy of `case_name` edited by `options`; the load must fail.
absl::Status LoadEdited(const std::string& case_name, const Nemo2FamilyWriteOptions& options,
                        std::optional<std::string> model_size = std::nullopt) {
  const auto hf_dir = GoldenCaseDir(case_name);
  if (!hf_dir) return absl::NotFoundError("golden case " + case_name + " not present");
  TempDir tmp("nemo2fam_bad");
  const fs::path nemo2 = tmp.path() / "nemo2";
  if (auto s = WriteNemo2FromHf(*hf_dir, nemo2, options); !s.ok()) return s;
  LoadOptions lo;
  lo.checkpoint = nemo2;
  lo.model_size = std::move(model_size);
  auto m = LoadModel(lo);
  return m.ok() ? absl::OkStatus() : m.status();
}

void ExpectErrorMentions(const absl::Status& s, const std::vector<std::string>& words) {
  ASSERT_FALSE(s.ok()) << "the load succeeded";
  for (const std::string& w : words) {
    EXPECT_NE(s.message().find(w), std::string::npos) << "'" << w << "' not in: " << s.message();
  }
}

void Erase(NamedTensors& t, const std::string& name) {
  std::erase_if(t, [&](const auto& entry) { return entry.first == name; });
}

TEST(Nemo2FamilyErrors, MissingMambaPartIsNamed) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) { Erase(t, "module.decoder.layers.0.mixer.in_proj.weight.B"); };
  ExpectErrorMentions(LoadEdited("m_hybrid_a", o),
                      {"decoder.layers.0.mixer.in_proj.weight.B", "missing"});
}

TEST(Nemo2FamilyErrors, MissingStackedLlamaKeyIsNamed) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) { Erase(t, "module.decoder.final_layernorm.weight"); };
  ExpectErrorMentions(LoadEdited("l_eden_a", o), {"decoder.final_layernorm.weight", "missing"});
}

TEST(Nemo2FamilyErrors, WrongShapeIsNamed) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name != "module.decoder.layers.mlp.linear_fc2.weight") continue;
      // [L, H, F] -> [L, H, F - 2]: the first L·H·(F-2) values, as a truncated save would hold.
      std::vector<int64_t> shape = tensor.shape();
      shape[2] -= 2;
      const size_t bytes =
          static_cast<size_t>(shape[0] * shape[1] * shape[2]) * DTypeSize(tensor.dtype());
      tensor = *Tensor::FromBytes(tensor.dtype(), shape, tensor.bytes().first(bytes));
    }
  };
  ExpectErrorMentions(LoadEdited("l_eden_a", o), {"decoder.layers.mlp.linear_fc2.weight",
                                                  "[4, 128, 254]", "[4, 128, 256]", "model.yaml"});
}

TEST(Nemo2FamilyErrors, LeftoverKeyIsNamed) {
  Nemo2FamilyWriteOptions o;
  o.edit = [](NamedTensors& t) {
    t.emplace_back("module.decoder.layers.1.mixer.D", t.back().second);
  };
  ExpectErrorMentions(LoadEdited("m_hybrid_a", o), {"decoder.layers.1.mixer.D", "not part of"});
}

TEST(Nemo2FamilyErrors, PresetMustDescribeTheContext) {
  ExpectErrorMentions(LoadEdited("l_eden_a", {}, "7B"), {"--model-size 7B", "num_layers 32", "4"});
  ExpectErrorMentions(LoadEdited("m_hybrid_a", {}, "hybrid_mamba_8b"),
                      {"--model-size hybrid_mamba_8b", "pattern"});
}

TEST(Nemo2FamilyErrors, PresetOfAnotherFamilyIsRefused) {
  ExpectErrorMentions(LoadEdited("l_eden_a", {}, "hybrid_mamba_8b"),
                      {"NemotronH preset", "Llama model"});
  ExpectErrorMentions(LoadEdited("m_hybrid_a", {}, "7b"), {"Evo 2", "NemotronH model"});
}

// Without context/ the preset is the architecture: its shapes are checked against the tensors.
TEST(Nemo2FamilyErrors, WithoutContextThePresetShapesApply) {
  Nemo2FamilyWriteOptions o;
  o.with_context = false;
  ExpectErrorMentions(
      LoadEdited("l_eden_a", o, "7B"),
      {"embedding.word_embeddings.weight", "[512, 128]", "--model-size 7B", "[512, 4096]"});
  ExpectErrorMentions(
      LoadEdited("m_hybrid_a", o, "hybrid_mamba_8b"),
      {"embedding.word_embeddings.weight", "--model-size hybrid_mamba_8b", "[512, 4096]"});
}

// A context/model.yaml setting the engine does not implement is refused naming the key.
TEST(Nemo2FamilyErrors, UnsupportedContextSettingIsNamed) {
  struct Case {
    const char* golden;
    std::string from, to, key;
  };
  for (const Case& c :
       {Case{"l_eden_a", "normalization: 'RMSNorm'", "normalization: 'LayerNorm'", "normalization"},
        Case{"m_hybrid_a", "position_embedding_type: 'none'", "position_embedding_type: 'rope'",
             "position_embedding_type"},
        Case{"l_eden_a", "gated_linear_unit: true", "gated_linear_unit: false",
             "gated_linear_unit"}}) {
    const auto hf_dir = GoldenCaseDir(c.golden);
    if (!hf_dir) GTEST_SKIP() << "golden case " << c.golden << " not present";
    TempDir tmp("nemo2fam_yaml");
    ASSERT_TRUE(WriteNemo2FromHf(*hf_dir, tmp.path() / "nemo2").ok());
    const fs::path yaml = tmp.path() / "nemo2" / "context" / "model.yaml";
    std::string text = evo2::testing::ReadFileBytes(yaml);
    const size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    evo2::testing::WriteFileBytes(yaml, text);
    LoadOptions lo;
    lo.checkpoint = tmp.path() / "nemo2";
    auto m = LoadModel(lo);
    ASSERT_FALSE(m.ok()) << c.to;
    EXPECT_NE(m.status().message().find(c.key), std::string::npos) << m.status();
    EXPECT_NE(m.status().message().find("model.yaml"), std::string::npos) << m.status();
  }
}

// ---- Presets (bionemo-predict §4.5–4.6) -------------------------------------------------------

TEST(FamilyPresets, EveryNameHasItsFamilyAndSizes) {
  struct Want {
    const char* name;
    ModelFamily family;
    int layers, hidden, heads;
  };
  for (const Want& w : {Want{"hybrid_mamba_8b", ModelFamily::kNemotronH, 52, 4096, 32},
                        Want{"8B", ModelFamily::kLlama, 32, 4096, 32},
                        Want{"7B", ModelFamily::kLlama, 32, 4096, 32},
                        Want{"11B", ModelFamily::kLlama, 36, 5120, 40},
                        Want{"18B", ModelFamily::kLlama, 48, 6144, 48},
                        Want{"21B", ModelFamily::kLlama, 42, 7168, 56},
                        Want{"24B", ModelFamily::kLlama, 46, 6144, 48},
                        Want{"28B", ModelFamily::kLlama, 48, 6144, 48},
                        Want{"35B", ModelFamily::kLlama, 64, 7168, 56}}) {
    auto family = PresetFamily(w.name);
    ASSERT_TRUE(family.ok()) << w.name << ": " << family.status();
    EXPECT_EQ(*family, w.family) << w.name;
    auto c = ModelConfigPreset(w.name);
    ASSERT_TRUE(c.ok()) << w.name << ": " << c.status();
    EXPECT_EQ(c->family, w.family) << w.name;
    EXPECT_EQ(c->num_layers, w.layers) << w.name;
    EXPECT_EQ(c->hidden_size, w.hidden) << w.name;
    EXPECT_EQ(c->num_heads, w.heads) << w.name;
    EXPECT_EQ(c->head_dim, 128) << w.name;
    EXPECT_EQ(c->vocab_size, 512) << w.name;
  }
  // BioNeMo's Eden27BConfig pairs 52 heads with 8 KV groups, which no GQA attention can split
  // (Transformer Engine refuses it too): the name is known, the architecture refused by name.
  EXPECT_EQ(*PresetFamily("27B"), ModelFamily::kLlama);
  auto c27 = ModelConfigPreset("27B");
  ASSERT_FALSE(c27.ok());
  EXPECT_NE(c27.status().message().find(
                "num_attention_heads 52 is not a multiple of num_key_value_heads 8"),
            std::string::npos)
      << c27.status();
  EXPECT_EQ(*PresetFamily("7b_arc_longcontext"), ModelFamily::kHyena);
  auto unknown = PresetFamily("9B");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("hybrid_mamba_8b"), std::string::npos)
      << unknown.status();
}

}  // namespace
}  // namespace evo2
