// The cuda backend end to end against the golden vectors (docs/spec/golden.md):
//   bf16: logits rel-L2 ≤ 2e-2 (cases a, b) / 2.5e-2 (case c) against the fp32 golden; the
//         per-record mean log-prob within 1e-2 (≥ 500 tokens) / 3e-2 (shorter); no NaN.
//   fp32: logits rel-L2 ≤ 1e-3, hidden state after block 0 ≤ 1e-4.
// Tolerances as in docs/spec/golden.md §2, which explains them: vortex's own bf16 path lands at
// 0.7-1.2 % (a, b) and 1.2-1.7 % (c) rel-L2 and moves mean log-probs by ≤ 0.007 (≥ 500 tokens)
// but up to 0.018 for the 17-token record (a mean over 16 values).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cuda_golden_support.h"
#include "evo2/cuda_backend.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using evo2::testing::Mean;
using evo2::testing::ReadNpyFloats;
using evo2::testing::ReadNpyTokens;
using evo2::testing::RelL2;

const char* kRecords[] = {"len00001", "len00017", "len00500", "len02048", "len08192"};

struct CaseParam {
  std::string name;
  double bf16_logits_tol;
};

class CudaGoldenTest : public ::testing::TestWithParam<CaseParam> {
 protected:
  void SetUp() override {
    if (!testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    dir_ = testing::GoldenCaseDirFromEnv(GetParam().name);
    if (!dir_) GTEST_SKIP() << "golden case " << GetParam().name << " not present";
    RegisterCudaBackend();
  }

  std::unique_ptr<Model> Load(Precision precision) {
    LoadOptions lo;
    lo.checkpoint = *dir_ / "model.pt";
    lo.device = Device::kCuda;
    lo.precision = precision;
    auto m = LoadModel(lo);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  // Golden logits for a record: all rows (S ≤ 2048) or the last 64 (8192); offset into ours.
  // nullopt only where the in-repo subset leaves a record's logits out (tests/data/golden/
  // README.md: a_tiny6 len02048); its log-probs are still checked.
  std::optional<std::pair<std::vector<float>, size_t>> GoldenLogits(const std::string& rec,
                                                                    size_t seq) {
    if (fs::exists(*dir_ / (rec + ".logits.npy"))) {
      return std::pair{ReadNpyFloats(*dir_ / (rec + ".logits.npy")), size_t{0}};
    }
    if (seq <= 2048 && !fs::exists(*dir_ / (rec + ".logits_last64.npy"))) {
      std::printf("note: %s %s: logits not in this golden set; log-probs checked only\n",
                  GetParam().name.c_str(), rec.c_str());
      return std::nullopt;
    }
    return std::pair{ReadNpyFloats(*dir_ / (rec + ".logits_last64.npy")), (seq - 64) * 512};
  }

  std::optional<fs::path> dir_;
};

TEST_P(CudaGoldenTest, Bf16MatchesGolden) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->backend_name(), "cuda-bf16");
  for (const char* rec : kRecords) {
    const auto tokens = ReadNpyTokens(*dir_ / (std::string(rec) + ".tokens.npy"));
    ForwardOptions fo;
    fo.logits = true;
    auto r = model->Forward(tokens, fo);
    ASSERT_TRUE(r.ok()) << rec << ": " << r.status();
    ASSERT_EQ(r->logits.size(), tokens.size() * 512);
    ASSERT_EQ(r->log_probs.size(), tokens.size() - 1);
    for (float v : r->logits) ASSERT_TRUE(std::isfinite(v)) << rec << ": non-finite logit";
    const auto golden = GoldenLogits(rec, tokens.size());
    const double rel = golden ? RelL2(r->logits, golden->second, golden->first) : 0.0;
    EXPECT_LE(rel, GetParam().bf16_logits_tol) << GetParam().name << " " << rec;
    if (tokens.size() > 1) {
      const auto golden_lp = ReadNpyFloats(*dir_ / (std::string(rec) + ".logprobs.npy"));
      const double dmean = std::abs(Mean(r->log_probs) - Mean(golden_lp));
      const double tol = tokens.size() >= 500 ? 1e-2 : 3e-2;
      EXPECT_LE(dmean, tol) << GetParam().name << " " << rec;
      std::printf("[bf16] %s %s: logits rel-L2 %s, |Δ mean log-prob| %.5f\n",
                  GetParam().name.c_str(), rec,
                  golden ? absl::StrFormat("%.4f", rel).c_str() : "n/a (not in this golden set)",
                  dmean);
    }
  }
}

TEST_P(CudaGoldenTest, Fp32MatchesGolden) {
  auto model = Load(Precision::kFp32);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->backend_name(), "cuda-fp32");
  for (const char* rec : kRecords) {
    const auto tokens = ReadNpyTokens(*dir_ / (std::string(rec) + ".tokens.npy"));
    ForwardOptions fo;
    fo.logits = true;
    const bool have_hidden = fs::exists(*dir_ / (std::string(rec) + ".hidden_after_block0.npy"));
    if (have_hidden) fo.hidden_after_blocks = {0};
    auto r = model->Forward(tokens, fo);
    ASSERT_TRUE(r.ok()) << rec << ": " << r.status();
    const auto golden = GoldenLogits(rec, tokens.size());
    const std::vector<float> no_logits;
    const auto& want = golden ? golden->first : no_logits;
    const size_t offset = golden ? golden->second : 0;
    const double rel = golden ? RelL2(r->logits, offset, want) : 0.0;
    // The project's bound for an fp32 engine; the golden's own float64 check agrees to 1.5e-5 abs.
    EXPECT_LE(rel, 1e-3) << GetParam().name << " " << rec;
    double max_abs = 0;
    for (size_t i = 0; i < want.size(); ++i)
      max_abs = std::max(max_abs, std::abs(double(r->logits[offset + i]) - want[i]));
    std::printf("[fp32] %s %s: logits rel-L2 %.2e, max abs %.2e\n", GetParam().name.c_str(), rec,
                rel, max_abs);
    if (have_hidden) {
      const auto h0 = ReadNpyFloats(*dir_ / (std::string(rec) + ".hidden_after_block0.npy"));
      // One block in fp32: only summation order differs from the reference.
      EXPECT_LE(RelL2(r->hidden[0], 0, h0), 1e-4) << rec << " hidden after block 0";
    }
    if (tokens.size() > 1) {
      const auto golden_lp = ReadNpyFloats(*dir_ / (std::string(rec) + ".logprobs.npy"));
      // log-probs of an fp32 run: the golden README's fp32 engine lands ~1e-5 per token.
      EXPECT_LE(std::abs(Mean(r->log_probs) - Mean(golden_lp)), 1e-3) << rec;
    }
  }
}

// ForwardBatch pads the five records (lengths 1..8192) into one pass; every record must still
// match the golden as well as it does alone (padding is causal-invisible, docs/spec/model.md §3).
TEST_P(CudaGoldenTest, Bf16BatchOfUnequalLengths) {
  auto model = Load(Precision::kBf16);
  ASSERT_NE(model, nullptr);
  std::vector<std::vector<int32_t>> seqs;
  for (const char* rec : kRecords)
    seqs.push_back(ReadNpyTokens(*dir_ / (std::string(rec) + ".tokens.npy")));
  ForwardOptions fo;
  auto rs = model->ForwardBatch(seqs, fo);
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    ASSERT_EQ((*rs)[i].log_probs.size(), seqs[i].empty() ? 0 : seqs[i].size() - 1);
    if (seqs[i].size() < 2) continue;
    const auto golden_lp = ReadNpyFloats(*dir_ / (std::string(kRecords[i]) + ".logprobs.npy"));
    for (float v : (*rs)[i].log_probs) ASSERT_TRUE(std::isfinite(v));
    const double tol = seqs[i].size() >= 500 ? 1e-2 : 3e-2;
    EXPECT_LE(std::abs(Mean((*rs)[i].log_probs) - Mean(golden_lp)), tol) << kRecords[i];
  }
}

// FP8 linears (docs/spec/fp8.md): the GPU's cuBLASLt E4M3 GEMMs against the CPU emulation of the
// same arithmetic, per mode, in the GPU's bf16 and fp32 modes, and every record's mean log-prob
// near the reference's bf16 run.
// Tolerances: E4M3 steps are 2^-4..2^-3 relative, so wherever the GPU's input to a quantisation
// differs slightly from the emulation's (bf16 activations, another summation order, the FP8 tensor
// cores' reduced-precision accumulation) a value near a midpoint rounds to the other code, and
// those one-step flips propagate. Measured on an H100 over the three cases and four records
// (bench/RESULTS.md): logits rel-L2 up to 0.032 (--fp8) and 0.058 (--full-fp8), about the same in
// the fp32 mode, which shows the flips rather than bf16 set the scale; mean log-prob within 0.0085
// for records of >= 500 tokens, 0.044 for the 17-token one (a mean of 16 values). Bounds: 8e-2 on
// logits, the bf16 tests' 1e-2 on means of >= 500 tokens, 5e-2 on the short record.
// Against the reference's bf16 run the FP8 means land within 0.034 up to 500 tokens but at up to
// 0.054 for 2048- and 8192-token records (a_tiny6 and c_7blike32, --fp8 0.051, --full-fp8 0.054),
// and the CPU emulation is as far (it agrees with the GPU to 0.008): FP8's own error on these
// random-weight models, not the GPU path's. Bound 6e-2, over the 5e-2 the FP8 work aimed for.
TEST_P(CudaGoldenTest, Fp8MatchesCpuEmulation) {
  for (Fp8Mode mode : {Fp8Mode::kHyenaProjections, Fp8Mode::kAllLinears}) {
    for (Precision precision : {Precision::kBf16, Precision::kFp32}) {
      LoadOptions lo;
      lo.checkpoint = *dir_ / "model.pt";
      lo.fp8 = mode;
      lo.device = Device::kCpu;
      auto cpu = LoadModel(lo);
      ASSERT_TRUE(cpu.ok()) << cpu.status();
      lo.device = Device::kCuda;
      lo.precision = precision;
      auto gpu = LoadModel(lo);
      ASSERT_TRUE(gpu.ok()) << gpu.status();
      EXPECT_EQ((*gpu)->backend_name(), absl::StrCat(precision == Precision::kBf16 ? "cuda-bf16" : "cuda-fp32",
                                                     "+fp8-", Fp8ModeName(mode)));
      for (const char* rec : {"len00017", "len00500", "len02048", "len08192"}) {
        const auto tokens = ReadNpyTokens(*dir_ / (std::string(rec) + ".tokens.npy"));
        ForwardOptions fo;
        fo.logits = true;
        auto g = (*gpu)->Forward(tokens, fo);
        ASSERT_TRUE(g.ok()) << rec << ": " << g.status();
        auto c = (*cpu)->Forward(tokens, fo);
        ASSERT_TRUE(c.ok()) << rec << ": " << c.status();
        const double rel = RelL2(g->logits, 0, c->logits);
        const double dmean = std::abs(Mean(g->log_probs) - Mean(c->log_probs));
        EXPECT_LE(rel, 8e-2) << GetParam().name << " " << rec << " " << Fp8ModeName(mode);
        EXPECT_LE(dmean, tokens.size() >= 500 ? 1e-2 : 5e-2) << GetParam().name << " " << rec;
        const fs::path bf16_lp = *dir_ / (std::string(rec) + ".bf16run.logprobs.npy");
        double dref = 0;
        if (fs::exists(bf16_lp)) {
          dref = std::abs(Mean(g->log_probs) - Mean(ReadNpyFloats(bf16_lp)));
          EXPECT_LE(dref, 6e-2) << GetParam().name << " " << rec << " vs the reference's bf16 run";
        }
        std::printf("[fp8 %s %s] %s %s: logits rel-L2 vs emulation %.4f, |Δ mean log-prob| %.5f, vs bf16 run %.5f\n",
                    Fp8ModeName(mode), PrecisionName(precision), GetParam().name.c_str(), rec, rel, dmean, dref);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaGoldenTest,
                         ::testing::Values(CaseParam{"a_tiny6", 2e-2}, CaseParam{"b_small10", 2e-2},
                                           CaseParam{"c_7blike32", 2.5e-2}),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(CudaBackendTest, RejectsUnknownPrecisionAndParallelism) {
  if (!testing::HaveCudaDevice())
    GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
  auto dir = testing::GoldenCaseDirFromEnv("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  RegisterCudaBackend();
  LoadOptions lo;
  lo.checkpoint = *dir / "model.pt";
  lo.device = Device::kCuda;
  EXPECT_EQ(ParsePrecision("fp16").status().code(), absl::StatusCode::kInvalidArgument);
  lo.tensor_parallel_size = 2;
  EXPECT_FALSE(LoadModel(lo).ok());
}

}  // namespace
}  // namespace evo2
