// Transformer Engine's stored FP8 scales (docs/spec/fp8.md, "Stored scales") on the CPU
// emulation, with a checkpoint made from a_tiny6's model.pt plus `_extra_state` entries in TE's
// format (tests/support/te_extra_state_writer.h): the FP8 copies are exactly the weights quantised
// with the stored weight scales, the GEMM is exactly the by-hand product with the stored input
// scale, the scales change the model's output, turning them off gives the current-scaling result
// bit for bit, and malformed or inconsistent state is an error naming the module.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "absl/strings/match.h"
#include "cpu/cpu_weights.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/torch_pt.h"
#include "io/dcp_metadata.h"
#include "io/dcp_reader.h"
#include "io/dcp_writer.h"
#include "io/fp8_linear_names.h"
#include "io/mapped_file.h"
#include "ops/fp8.h"
#include "support/expect_contains.h"
#include "support/golden_paths.h"
#include "support/te_extra_state_writer.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using testing::PickleTeState;
using testing::TeExtraStateTensor;
using testing::TeStateSpec;

constexpr int kBlocks = 6;  // a_tiny6: SDH*SH

float AmaxOf(const Tensor& t) {
  auto values = t.ToFloat32();
  EXPECT_TRUE(values.ok()) << values.status();
  float amax = 0.0f;
  if (values.ok()) {
    for (float v : *values) amax = std::fmax(amax, std::fabs(v));
  }
  return amax;
}

// a_tiny6 with `_extra_state` for every FP8 linear. The stored weight scale is half of what the
// current amax gives (so the codes differ from current scaling's) and each input scale a
// distinct value near the activations' range; `edit` may change the extra entries.
struct TinyCheckpoint {
  testing::TempDir dir{"fp8_stored"};
  fs::path pt;
  std::map<std::string, StoredFp8Scales> written;  // by vortex module

  explicit TinyCheckpoint(const std::function<void(NamedTensors&)>& edit = {}) {
    auto golden = testing::GoldenCaseDir("a_tiny6");
    EXPECT_TRUE(golden.has_value());
    auto tensors = ReadTorchPt(*golden / "model.pt");
    EXPECT_TRUE(tensors.ok()) << tensors.status();
    NamedTensors out = *tensors;
    std::map<std::string, Tensor> by_name(tensors->begin(), tensors->end());
    float input_scale = 12.0f;
    for (int b = 0; b < kBlocks; ++b) {
      for (const char* linear : {"projections", "out_filter_dense", "inner_mha_cls.Wqkv",
                                 "inner_mha_cls.out_proj", "mlp.l1", "mlp.l2", "mlp.l3"}) {
        const std::string module = absl::StrCat("blocks.", b, ".", linear);
        auto w = by_name.find(module + ".weight");
        if (w == by_name.end()) continue;
        StoredFp8Scales s{.input = input_scale,
                          .weight = 0.5f * ops::E4M3ScaleForAmax(AmaxOf(w->second))};
        if (std::string(linear) == "mlp.l2")
          s = written[absl::StrCat("blocks.", b, ".mlp.l1")];  // one GEMM
        input_scale += 1.5f;
        written[module] = s;
        TeStateSpec spec;
        spec.scale_fwd = {s.input, s.weight, 1.0f};
        out.emplace_back(module + "._extra_state", TeExtraStateTensor(PickleTeState(spec)));
      }
    }
    if (edit) edit(out);
    pt = dir.path() / "model.pt";
    EXPECT_TRUE(WriteTorchPt(pt, out).ok());
    fs::copy_file(*golden / "config.yml", dir.path() / "config.yml");
  }
};

std::vector<int32_t> Tokens() {
  std::vector<int32_t> t;
  for (int i = 0; i < 96; ++i) t.push_back("ACGTTGCA"[i % 8] + (i % 13 == 0 ? 32 : 0));
  return t;
}

absl::StatusOr<std::vector<float>> LogProbs(const fs::path& pt, Fp8Mode mode, bool stored = true) {
  LoadOptions lo;
  lo.checkpoint = pt;
  lo.fp8 = mode;
  lo.fp8_stored_scales = stored;
  lo.threads = 1;
  auto model = LoadModel(lo);
  if (!model.ok()) return model.status();
  auto r = (*model)->Forward(Tokens(), ForwardOptions{});
  if (!r.ok()) return r.status();
  return r->log_probs;
}

TEST(Fp8StoredScales, TheCheckpointYieldsTheWrittenScales) {
  TinyCheckpoint ckpt;
  auto with = LoadCheckpoint(ckpt.pt, {.te_fp8_scales = true});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->fp8_scales, ckpt.written);
  EXPECT_EQ(with->fp8_scales.size(),
            30u);  // 6 blocks x 5 linears (projections or Wqkv, out, l1, l2, l3)
  // Without the option the entries are skipped undecoded, as before.
  auto without = LoadCheckpoint(ckpt.pt);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_TRUE(without->fp8_scales.empty());
  EXPECT_EQ(without->tensors.size(), with->tensors.size());
}

TEST(Fp8StoredScales, Fp8CopiesAreTheWeightsQuantisedWithTheStoredScales) {
  TinyCheckpoint ckpt;
  auto loaded = LoadCheckpoint(ckpt.pt, {.te_fp8_scales = true});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto config = ModelConfigFromVortexYaml(ckpt.dir.path() / "config.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ResolveFromTensors(*config, loaded->tensors).ok());
  auto weights = cpu::LoadWeights(*config, loaded->tensors);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_TRUE(cpu::QuantizeLinearsE4M3(Fp8Mode::kAllLinears, loaded->fp8_scales, *weights).ok());

  int checked = 0;
  auto expect_quantised = [&](const ops::Fp8Matrix& m, const std::vector<float>& w,
                              const std::string& module) {
    SCOPED_TRACE(module);
    const StoredFp8Scales s = ckpt.written.at(module);
    ASSERT_EQ(m.q.size(), w.size());
    EXPECT_EQ(m.input_scale, s.input);
    EXPECT_EQ(m.inv_scale, 1.0f / s.weight);
    size_t differ = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_EQ(m.q[i], ops::RoundToE4M3(w[i] * s.weight)) << i;
      // The stored scale is half of current scaling's, so most codes differ from its codes.
      differ += m.q[i] != ops::RoundToE4M3(w[i] * 2.0f * s.weight);
    }
    EXPECT_GT(differ, w.size() / 2);
    ++checked;
  };
  for (int b = 0; b < kBlocks; ++b) {
    const cpu::BlockWeights& bw = weights->blocks[b];
    const std::string p = absl::StrCat("blocks.", b, ".");
    if (bw.kind == BlockKind::kAttn) {
      expect_quantised(bw.attention.wqkv_fp8, bw.attention.wqkv, p + "inner_mha_cls.Wqkv");
      expect_quantised(bw.attention.out_fp8, bw.attention.out_weight, p + "inner_mha_cls.out_proj");
    } else {
      expect_quantised(bw.hyena.projections_fp8, bw.hyena.projections, p + "projections");
      expect_quantised(bw.hyena.out_fp8, bw.hyena.out_weight, p + "out_filter_dense");
    }
    expect_quantised(bw.mlp.w12_fp8, bw.mlp.w12, p + "mlp.l1");
    expect_quantised(bw.mlp.w3_fp8, bw.mlp.w3, p + "mlp.l3");
  }
  EXPECT_EQ(checked, 4 * kBlocks);
}

TEST(Fp8StoredScales, TheGemmIsTheByHandProductWithTheStoredInputScale) {
  // y[t,o] = (1/s_x · 1/s_w) · Σ_k E4M3(x[t,k]·s_x) · E4M3(W[o,k]·s_w) with one s_x for every row,
  // including a row whose values saturate at ±448 after scaling.
  const int64_t rows = 4, in = 40, out = 24;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(out * in), x(rows * in);
  for (float& v : w) v = 0.05f * normal(rng);
  for (float& v : x) v = normal(rng);
  for (int64_t k = 0; k < in; ++k) x[3 * in + k] *= 40.0f;  // |x·s_x| far above 448
  const float s_x = 21.0f, s_w = 1300.0f;
  ops::Fp8Matrix m = ops::QuantizeMatrixE4M3(w.data(), out, in, s_w);
  m.input_scale = s_x;
  std::vector<float> y(rows * out), scratch;
  ops::Fp8Linear(x.data(), rows, in, m, nullptr, y.data(), out, false, scratch);
  int saturated = 0;
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0, magnitude = 0;
      for (int64_t k = 0; k < in; ++k) {
        const float qx = ops::RoundToE4M3(x[t * in + k] * s_x);
        saturated += t == 3 && o == 0 && std::fabs(qx) == ops::kE4M3Max;
        const double p = double(qx) * ops::RoundToE4M3(w[o * in + k] * s_w);
        sum += p;
        magnitude += std::fabs(p);
      }
      const float scale = (1.0f / s_x) * (1.0f / s_w);
      // E4M3 products are exact in fp32; only BLAS's fp32 summation order differs from the
      // double sum: at most in·2^-24 of the summed magnitudes.
      EXPECT_NEAR(y[t * out + o], scale * sum, scale * magnitude * in * 6e-8 + 1e-30)
          << t << "," << o;
      ASSERT_FALSE(std::isnan(y[t * out + o]));
    }
  }
  EXPECT_GT(saturated, in / 2);
}

TEST(Fp8StoredScales, StoredScalesAreAppliedAndCanBeTurnedOff) {
  TinyCheckpoint ckpt;
  const fs::path plain = testing::GoldenCaseDir("a_tiny6").value() / "model.pt";
  for (Fp8Mode mode : {Fp8Mode::kHyenaProjections, Fp8Mode::kAllLinears}) {
    SCOPED_TRACE(Fp8ModeName(mode));
    auto current = LogProbs(plain, mode);
    auto stored = LogProbs(ckpt.pt, mode);
    auto ignored = LogProbs(ckpt.pt, mode, /*stored=*/false);
    ASSERT_TRUE(current.ok()) << current.status();
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_TRUE(ignored.ok()) << ignored.status();
    // Turned off, the extra state changes nothing: current scaling bit for bit.
    EXPECT_EQ(*ignored, *current);
    // On, the stored scales move per-token log-probs by far more than fp32 rounding (1e-5) ...
    double moved = 0, mean_current = 0, mean_stored = 0;
    for (size_t i = 0; i < current->size(); ++i) {
      ASSERT_FALSE(std::isnan((*stored)[i])) << i;
      moved = std::max(moved, std::fabs(double((*stored)[i]) - (*current)[i]));
      mean_current += (*current)[i];
      mean_stored += (*stored)[i];
    }
    EXPECT_GT(moved, 1e-3);
    // ... while the model still works: E4M3 keeps 3 mantissa bits whichever scale is used, so the
    // mean log-prob stays within the FP8 modes' own spread (fp8_model_test: 5e-2).
    EXPECT_NEAR(mean_stored / current->size(), mean_current / current->size(), 5e-2);
  }
  // FP8 off: the extra state is not even read.
  auto off_plain = LogProbs(plain, Fp8Mode::kOff);
  auto off_ckpt = LogProbs(ckpt.pt, Fp8Mode::kOff);
  ASSERT_TRUE(off_plain.ok() && off_ckpt.ok());
  EXPECT_EQ(*off_plain, *off_ckpt);
}

// a_tiny6's NeMo2 checkpoint rewritten with `_extra_state` byte items as Megatron saves them
// (torch.save([uint8 tensor]) per module and TP shard), holding the scales `ckpt` wrote into its
// `.pt`; `extra` adds further byte items.
fs::path WriteNemo2WithExtraState(const TinyCheckpoint& ckpt, const testing::TempDir& dir,
                                  const NamedTensors& extra = {}) {
  const fs::path original = testing::GoldenCaseDir("a_tiny6").value() / "nemo2_tp1";
  auto file = io::MappedFile::Open(original / "weights" / ".metadata");
  EXPECT_TRUE(file.ok()) << file.status();
  auto metadata = io::ParseDcpMetadata((*file)->bytes(), "metadata");
  EXPECT_TRUE(metadata.ok()) << metadata.status();
  auto tensors = io::ReadDcpTensors(original / "weights", *metadata, [](const std::string& fqn) {
    return absl::StartsWith(fqn, "module.") && !absl::EndsWith(fqn, "_extra_state");
  });
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  NamedTensors byte_items;
  for (int b = 0; b < kBlocks; ++b) {
    for (const char* module : {"mixer.dense_projection", "mixer.dense", "self_attention.linear_qkv",
                               "self_attention.linear_proj", "mlp.linear_fc1", "mlp.linear_fc2"}) {
      const std::string nemo = absl::StrCat("decoder.layers.", b, ".", module);
      const std::vector<std::string> vortex = io::VortexModulesOfNemoLinear(nemo);
      EXPECT_FALSE(vortex.empty()) << nemo;
      auto it = ckpt.written.find(vortex.empty() ? "" : vortex[0]);
      if (it == ckpt.written.end()) continue;  // the layer has no such module
      TeStateSpec spec;
      spec.scale_fwd = {it->second.input, it->second.weight, 1.0f};
      byte_items.emplace_back(absl::StrCat("module.", nemo, "._extra_state/shard_0_1"),
                              TeExtraStateTensor(PickleTeState(spec)));
    }
    // TE's attention and the output layer keep state the engine never reads (FP8 attention,
    // head): even bytes that are no pickle at all do not matter.
    byte_items.emplace_back(absl::StrCat("module.decoder.layers.", b,
                                         ".self_attention.core_attention._extra_state/shard_0_1"),
                            TeExtraStateTensor("not a pickle"));
  }
  for (const auto& e : extra) byte_items.push_back(e);
  EXPECT_TRUE(io::WriteDcpCheckpoint(dir.path() / "weights", *tensors, {}, byte_items).ok());
  fs::create_directories(dir.path() / "context");
  fs::copy_file(original / "context" / "model.yaml", dir.path() / "context" / "model.yaml");
  return dir.path();
}

TEST(Fp8StoredScales, Nemo2ByteItemsGiveTheScalesAndResultsOfThePt) {
  TinyCheckpoint ckpt;
  testing::TempDir dir("fp8_stored_nemo2");
  const fs::path nemo2 = WriteNemo2WithExtraState(ckpt, dir);
  auto loaded = LoadCheckpoint(nemo2, {.te_fp8_scales = true});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->fp8_scales, ckpt.written);  // linear_fc1's state is l1's and l2's
  // The same weights and scales in either format: the same FP8 result.
  auto from_pt = LogProbs(ckpt.pt, Fp8Mode::kAllLinears);
  auto from_nemo2 = LogProbs(nemo2, Fp8Mode::kAllLinears);
  ASSERT_TRUE(from_pt.ok()) << from_pt.status();
  ASSERT_TRUE(from_nemo2.ok()) << from_nemo2.status();
  // The golden NeMo2 checkpoint maps onto tensors bit-identical to model.pt's (golden NEMO2.md),
  // so with the same scales the results are bit-identical too.
  EXPECT_EQ(*from_nemo2, *from_pt);
}

TEST(Fp8StoredScalesErrors, Nemo2ShardsThatDisagreeAreRefused) {
  TinyCheckpoint ckpt;
  testing::TempDir dir("fp8_stored_nemo2_tp");
  TeStateSpec other;
  other.scale_fwd = {7.0f, 9.0f, 1.0f};
  const fs::path nemo2 = WriteNemo2WithExtraState(
      ckpt, dir,
      {{"module.decoder.layers.0.mixer.dense_projection._extra_state/shard_1_2",
        TeExtraStateTensor(PickleTeState(other))}});
  auto loaded = LoadCheckpoint(nemo2, {.te_fp8_scales = true});
  ASSERT_FALSE(loaded.ok());
  EVO2_EXPECT_CONTAINS(loaded.status().message(),
                       "decoder.layers.0.mixer.dense_projection._extra_state/shard_1_2");
  EVO2_EXPECT_CONTAINS(loaded.status().message(), "differ from those of");
}

TEST(Fp8StoredScalesErrors, MalformedStateNamesTheKeyUnlessStoredScalesAreOff) {
  TinyCheckpoint ckpt([](NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name != "blocks.1.out_filter_dense._extra_state") continue;
      TeStateSpec spec;
      spec.scale_fwd = {4.0f, -1.0f, 1.0f};
      tensor = TeExtraStateTensor(PickleTeState(spec));
    }
  });
  auto bad = LogProbs(ckpt.pt, Fp8Mode::kAllLinears);
  ASSERT_FALSE(bad.ok());
  EVO2_EXPECT_CONTAINS(bad.status().message(), "blocks.1.out_filter_dense._extra_state");
  EVO2_EXPECT_CONTAINS(bad.status().message(), "scale_fwd[1] (the weight's scale) is -1");
  EVO2_EXPECT_CONTAINS(bad.status().message(), "model.pt");
  EXPECT_TRUE(LogProbs(ckpt.pt, Fp8Mode::kAllLinears, /*stored=*/false).ok());
  EXPECT_TRUE(LogProbs(ckpt.pt, Fp8Mode::kOff).ok());
}

TEST(Fp8StoredScalesErrors, DifferentL1AndL2ScalesAreRefusedForTheMlp) {
  TinyCheckpoint ckpt([](NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name != "blocks.2.mlp.l2._extra_state") continue;
      TeStateSpec spec;
      spec.scale_fwd = {4.0f, 100.0f, 1.0f};
      tensor = TeExtraStateTensor(PickleTeState(spec));
    }
  });
  auto full = LogProbs(ckpt.pt, Fp8Mode::kAllLinears);
  ASSERT_FALSE(full.ok());
  EVO2_EXPECT_CONTAINS(full.status().message(),
                       "blocks.2.mlp.l1 and .mlp.l2 carry different stored FP8 scales");
  // --fp8 runs only the Hyena projections in FP8, so the MLP's scales do not matter there.
  EXPECT_TRUE(LogProbs(ckpt.pt, Fp8Mode::kHyenaProjections).ok());
}

}  // namespace
}  // namespace evo2
