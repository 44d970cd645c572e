// The CUDA engine group (cuda/engine_group/) on one GPU, every rank placed on GPU 0 with the
// in-process device communicator (EVO2_CUDA_GROUP=one-gpu), against the single-GPU backend and
// the CPU fp32 reference on the golden cases (a_tiny6 in the repository; b_small10, c_7blike32
// where $EVO2_GOLDEN_DIR has them): TP=2, CP=2, CP=3, TP=2×CP=2 and DP=2, on the golden records
// and prefixes of lengths 2, 3, 7, 13 and 131 (fewer tokens than chunks, chunks shorter than the
// 127-row hcm halo, odd and prime lengths).
//
// Tolerances:
//   bf16 vs the single-GPU bf16 run: logits rel-L2 ≤ 1e-2 and |Δ mean log-prob| ≤ 5e-3, or, for a
//     record where bf16 rounding moves a log-prob further, ≤ twice that record's bf16 noise (the
//     largest |Δ| per token between the single-GPU bf16 and fp32 runs): each bf16 run lies about
//     that far from the fp32 value, so two of them lie within twice that of each other. The group
//     computes the same bf16 function except for the order of fp32 sums (a GEMM's reduction split
//     over TP ranks then all-reduced; attention over a longer, gathered K/V; the hcl state carried
//     as a rank-16 correction added to an already rounded output), which moves a bf16-rounded
//     intermediate by one ulp (3.9e-3 relative) here and there. Over hundreds of tokens those
//     shifts average out in the mean; a record of 3 tokens has a mean of 2 log-probs, no averaging,
//     and measured 8.9e-3 at CP=2 (a_tiny6), within the bf16 run's own distance from fp32 on such
//     records. A placement, halo or shard mistake moves logits by tens of percent.
//   fp32 vs the CPU fp32 backend: ≤ 1e-4 max-abs on log-probs (an fp32 engine on another
//     device: only summation order differs; the single-GPU fp32 figure is printed beside it).
// Label gpu: skips without a CUDA device.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cuda/engine_group/cuda_engine_group_model.h"
#include "cuda_golden_support.h"
#include "evo2/config.h"
#include "evo2/cuda_backend.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "parallel/group_layout.h"
#include "support/expect_contains.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using evo2::testing::MaxAbsDiff;
using evo2::testing::ReadNpyTokens;

struct Layout {
  const char* name;
  int tp, cp, devices;
};
const Layout kLayouts[] = {
    {"TP2", 2, 1, 0}, {"CP2", 1, 2, 0}, {"CP3", 1, 3, 0}, {"TP2xCP2", 2, 2, 0}, {"DP2", 1, 1, 2}};

absl::StatusOr<std::unique_ptr<Model>> Load(const fs::path& dir, Device device, Precision precision,
                                            int tp, int cp, int devices) {
  return evo2::testing::LoadGoldenModel(
      dir, {.device = device, .precision = precision, .tp = tp, .cp = cp, .devices = devices});
}

// ‖got − want‖ / ‖want‖; inf on NaN or a size mismatch.
double RelL2(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return den == 0 ? (num == 0 ? 0 : INFINITY) : std::sqrt(num / den);
}

double Mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// The golden records present (up to `max_len` tokens), then prefixes of the 500-token record.
std::vector<std::vector<int32_t>> Records(const fs::path& dir, size_t max_len) {
  std::vector<std::vector<int32_t>> seqs;
  for (const char* rec : {"len00001", "len00017", "len00500", "len02048", "len08192"}) {
    const fs::path p = dir / (std::string(rec) + ".tokens.npy");
    if (!fs::exists(p)) continue;
    auto t = ReadNpyTokens(p);
    if (t.size() <= max_len) seqs.push_back(std::move(t));
  }
  const auto base = ReadNpyTokens(dir / "len00500.tokens.npy");
  for (size_t n : {2, 3, 7, 13, 131})
    seqs.emplace_back(base.begin(),
                      base.begin() + static_cast<ptrdiff_t>(std::min(n, base.size())));
  return seqs;
}

class CudaEngineGroupGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!evo2::testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = evo2::testing::GoldenCaseDirFromEnv(GetParam());
    if (!dir) GTEST_SKIP() << "golden case " << GetParam() << " not present";
    dir_ = *dir;
    RegisterCudaBackend();
    setenv("EVO2_CUDA_GROUP", "one-gpu", 1);
  }
  void TearDown() override { unsetenv("EVO2_CUDA_GROUP"); }

  // The layout's model, or nullptr after checking that Megatron's rules refuse it for this
  // model with the layout's own message (e.g. TP=2 with 3 heads).
  std::unique_ptr<Model> LoadLayout(const Layout& l, const ModelConfig& config,
                                    Precision precision) {
    auto layout = parallel::MakeGroupLayout(config, l.tp, l.cp, l.devices);
    auto model = Load(dir_, Device::kCuda, precision, l.tp, l.cp, l.devices);
    if (!layout.ok()) {
      EXPECT_FALSE(model.ok()) << l.name;
      if (!model.ok()) {
        EVO2_EXPECT_CONTAINS(model.status().message(), layout.status().message());
      }
      std::printf("%s %s: refused (%s)\n", GetParam().c_str(), l.name,
                  std::string(layout.status().message()).c_str());
      return nullptr;
    }
    EXPECT_TRUE(model.ok()) << l.name << ": " << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }

  fs::path dir_;
};

TEST_P(CudaEngineGroupGolden, Bf16LayoutsMatchTheSingleGpuRun) {
  auto single = Load(dir_, Device::kCuda, Precision::kBf16, 1, 1, 0);
  ASSERT_TRUE(single.ok()) << single.status();
  auto single_fp32 = Load(dir_, Device::kCuda, Precision::kFp32, 1, 1, 0);
  ASSERT_TRUE(single_fp32.ok()) << single_fp32.status();
  const auto seqs = Records(dir_, 8192);
  ForwardOptions fo;
  fo.logits = true;
  std::vector<ForwardResult> want;
  std::vector<double> mean_tol;  // per record: max(5e-3, 2 × its bf16 noise)
  for (const auto& s : seqs) {
    auto r = (*single)->Forward(s, fo);
    ASSERT_TRUE(r.ok()) << r.status();
    auto f = (*single_fp32)->Forward(s, ForwardOptions{});
    ASSERT_TRUE(f.ok()) << f.status();
    const double noise = s.size() > 1 ? MaxAbsDiff(r->log_probs, f->log_probs) : 0.0;
    ASSERT_TRUE(std::isfinite(noise));
    mean_tol.push_back(std::max(5e-3, 2 * noise));
    want.push_back(std::move(*r));
  }
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.name);
    auto model = LoadLayout(l, (*single)->config(), Precision::kBf16);
    if (model == nullptr) continue;
    EXPECT_EQ(model->backend_name(), "cuda-bf16");
    const auto t0 = std::chrono::steady_clock::now();
    auto got = model->ForwardBatch(seqs, fo);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), seqs.size());
    double worst_rel = 0, worst_mean = 0, worst_tol = 0;
    size_t worst_len = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      SCOPED_TRACE("length " + std::to_string(seqs[i].size()));
      const ForwardResult& g = (*got)[i];
      ASSERT_EQ(g.log_probs.size(), want[i].log_probs.size());
      const double rel = RelL2(g.logits, want[i].logits);
      const double dmean = std::abs(Mean(g.log_probs) - Mean(want[i].log_probs));
      for (float v : g.log_probs) ASSERT_TRUE(std::isfinite(v)) << "non-finite log-prob";
      EXPECT_LE(rel, 1e-2);
      EXPECT_LE(dmean, mean_tol[i]) << "the bound: max(5e-3, 2 × this record's bf16 noise)";
      worst_rel = std::max(worst_rel, rel);
      if (dmean > worst_mean) {
        worst_mean = dmean;
        worst_len = seqs[i].size();
        worst_tol = mean_tol[i];
      }
    }
    std::printf(
        "[bf16] %s %s: %zu records in %.0f ms; worst logits rel-L2 %.2e, |Δ mean lp| %.2e "
        "(length %zu, bound %.2e)\n",
        GetParam().c_str(), l.name, seqs.size(), ms, worst_rel, worst_mean, worst_len, worst_tol);
  }
}

TEST_P(CudaEngineGroupGolden, Fp32LayoutsMatchTheCpuReference) {
  auto cpu = Load(dir_, Device::kCpu, Precision::kFp32, 1, 1, 0);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto single = Load(dir_, Device::kCuda, Precision::kFp32, 1, 1, 0);
  ASSERT_TRUE(single.ok()) << single.status();
  // Up to 500 tokens: the CPU reference runs here too.
  const auto seqs = Records(dir_, 500);
  // Hidden states too: after the first and the last block, and the final norm (each rank writes
  // its own rows; TP rank 0 of each CP rank).
  const int last = (*cpu)->config().num_layers - 1;
  ForwardOptions fo;
  fo.hidden_after_blocks = {0, last};
  fo.layers = {"norm"};
  std::vector<ForwardResult> want;
  double single_worst = 0;
  for (const auto& s : seqs) {
    auto r = (*cpu)->Forward(s, fo);
    ASSERT_TRUE(r.ok()) << r.status();
    auto g = (*single)->Forward(s, fo);
    ASSERT_TRUE(g.ok()) << g.status();
    single_worst = std::max(single_worst, MaxAbsDiff(g->log_probs, r->log_probs));
    want.push_back(std::move(*r));
  }
  std::printf("[fp32] %s single GPU: max |Δ log-prob| vs CPU %.2e\n", GetParam().c_str(),
              single_worst);
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.name);
    auto model = LoadLayout(l, (*cpu)->config(), Precision::kFp32);
    if (model == nullptr) continue;
    EXPECT_EQ(model->backend_name(), "cuda-fp32");
    auto got = model->ForwardBatch(seqs, fo);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), seqs.size());
    double worst = 0, worst_hidden = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const ForwardResult& g = (*got)[i];
      const double d = MaxAbsDiff(g.log_probs, want[i].log_probs);
      EXPECT_LE(d, 1e-4) << "length " << seqs[i].size();
      worst = std::max(worst, d);
      // Hidden states: rel-L2 1e-4, the single-GPU fp32 backend's own bound against the golden
      // hidden state (cuda_golden_test.cc): only the order of fp32 sums differs.
      for (int b : {0, last}) {
        ASSERT_EQ(g.hidden.count(b), 1u) << "block " << b;
        const double h = RelL2(g.hidden.at(b), want[i].hidden.at(b));
        EXPECT_LE(h, 1e-4) << "hidden after block " << b << ", length " << seqs[i].size();
        worst_hidden = std::max(worst_hidden, h);
      }
      ASSERT_EQ(g.layers.count("norm"), 1u);
      const double n = RelL2(g.layers.at("norm"), want[i].layers.at("norm"));
      EXPECT_LE(n, 1e-4) << "final norm, length " << seqs[i].size();
      worst_hidden = std::max(worst_hidden, n);
    }
    std::printf("[fp32] %s %s: max |Δ log-prob| vs CPU %.2e; hidden states rel-L2 %.2e\n",
                GetParam().c_str(), l.name, worst, worst_hidden);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaEngineGroupGolden,
                         ::testing::Values("a_tiny6", "b_small10", "c_7blike32"));

// One GPU per rank over NCCL (no EVO2_CUDA_GROUP): TP=2, CP=2 and, with 4 GPUs, TP=2×CP=2
// against the single-GPU bf16 run, same bounds as above. Skipped on a machine with one GPU.
TEST(CudaEngineGroupNccl, LayoutsOnOneGpuPerRankMatchTheSingleGpuRun) {
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < 2)
    GTEST_SKIP() << "needs 2 or more GPUs (found " << gpus << ")";
  auto dir = evo2::testing::GoldenCaseDirFromEnv("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  RegisterCudaBackend();
  unsetenv("EVO2_CUDA_GROUP");
  auto single = Load(*dir, Device::kCuda, Precision::kBf16, 1, 1, 0);
  ASSERT_TRUE(single.ok()) << single.status();
  auto single_fp32 = Load(*dir, Device::kCuda, Precision::kFp32, 1, 1, 0);
  ASSERT_TRUE(single_fp32.ok()) << single_fp32.status();
  const auto seqs = Records(*dir, 8192);
  ForwardOptions fo;
  fo.logits = true;
  for (const Layout& l : {Layout{"TP2", 2, 1, 0}, Layout{"CP2", 1, 2, 0},
                          Layout{"TP2xCP2", 2, 2, 0}, Layout{"DP2", 1, 1, 2}}) {
    if (l.tp * l.cp * std::max(1, l.devices / (l.tp * l.cp)) > gpus) continue;
    SCOPED_TRACE(l.name);
    auto model = Load(*dir, Device::kCuda, Precision::kBf16, l.tp, l.cp, l.devices);
    ASSERT_TRUE(model.ok()) << model.status();
    auto* group = dynamic_cast<cuda::CudaEngineGroupModel*>(model->get());
    ASSERT_NE(group, nullptr);
    EXPECT_FALSE(group->placement().one_gpu);
    auto got = group->ForwardBatch(seqs, fo);
    ASSERT_TRUE(got.ok()) << got.status();
    double worst_rel = 0, worst_mean = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      auto want = (*single)->Forward(seqs[i], fo);
      ASSERT_TRUE(want.ok()) << want.status();
      auto f = (*single_fp32)->Forward(seqs[i], ForwardOptions{});
      ASSERT_TRUE(f.ok()) << f.status();
      // The bound of the one-GPU layouts above: max(5e-3, 2 × the record's bf16 noise).
      const double tol =
          std::max(5e-3, seqs[i].size() > 1 ? 2 * MaxAbsDiff(want->log_probs, f->log_probs) : 0.0);
      const double rel = RelL2((*got)[i].logits, want->logits);
      const double dmean = std::abs(Mean((*got)[i].log_probs) - Mean(want->log_probs));
      EXPECT_LE(rel, 1e-2) << "length " << seqs[i].size();
      EXPECT_LE(dmean, tol) << "length " << seqs[i].size();
      worst_rel = std::max(worst_rel, rel);
      worst_mean = std::max(worst_mean, dmean);
    }
    std::printf("[nccl bf16] a_tiny6 %s (%s): worst logits rel-L2 %.2e, |Δ mean lp| %.2e\n", l.name,
                group->placement().ToString().c_str(), worst_rel, worst_mean);
  }
}

class CudaEngineGroupFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!evo2::testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = evo2::testing::GoldenCaseDirFromEnv("a_tiny6");
    if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
    dir_ = *dir;
    RegisterCudaBackend();
    tokens_ = ReadNpyTokens(dir_ / "len00500.tokens.npy");
  }
  void TearDown() override { unsetenv("EVO2_CUDA_GROUP"); }
  fs::path dir_;
  std::vector<int32_t> tokens_;
};

// One rank fails before block 2 while the other three wait in collectives: every rank returns
// (no hang: well inside the test's timeout), the error names the failing rank, and the next call
// works with fresh communicators and gives the same result as before.
TEST_F(CudaEngineGroupFailure, AFailingRankReleasesTheOthersAndTheNextCallWorks) {
  setenv("EVO2_CUDA_GROUP", "one-gpu", 1);
  auto model = Load(dir_, Device::kCuda, Precision::kBf16, 2, 2, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  auto* group = dynamic_cast<cuda::CudaEngineGroupModel*>(model->get());
  ASSERT_NE(group, nullptr) << "TP=2 x CP=2 should load the CUDA engine group";
  ForwardOptions fo;
  auto before = group->Forward(tokens_, fo);
  ASSERT_TRUE(before.ok()) << before.status();
  group->InjectFailureForTesting({.rank = 3, .block = 2});
  const auto t0 = std::chrono::steady_clock::now();
  auto failed = group->Forward(tokens_, fo);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal) << failed.status();
  EVO2_EXPECT_CONTAINS(failed.status().message(), "rank 3 (TP rank 1, CP rank 1, GPU 0)");
  EVO2_EXPECT_CONTAINS(failed.status().message(), "injected failure before block 2");
  EXPECT_LT(s, 30.0) << "the other ranks must be released by the abort, not a timeout";
  std::printf("failure returned after %.3f s: %s\n", s,
              std::string(failed.status().message()).c_str());
  group->InjectFailureForTesting({});
  auto after = group->Forward(tokens_, fo);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(MaxAbsDiff(after->log_probs, before->log_probs), 0.0) << "same group, same result";
}

TEST_F(CudaEngineGroupFailure, CancelledForwardReturnsCancelledAndTheGroupStaysUsable) {
  setenv("EVO2_CUDA_GROUP", "one-gpu", 1);
  auto model = Load(dir_, Device::kCuda, Precision::kBf16, 1, 2, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  std::atomic<bool> cancelled{true};
  ForwardOptions fo;
  fo.cancelled = &cancelled;
  auto r = (*model)->Forward(tokens_, fo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  fo.cancelled = nullptr;
  auto ok = (*model)->Forward(tokens_, fo);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->log_probs.size(), tokens_.size() - 1);
}

// Without EVO2_CUDA_GROUP, more ranks than GPUs is a clear error naming the variable.
TEST_F(CudaEngineGroupFailure, MoreRanksThanGpusWithoutOneGpuIsAClearError) {
  int gpus = 0;
  ASSERT_EQ(cudaGetDeviceCount(&gpus), cudaSuccess);
  if (gpus >= 64) GTEST_SKIP() << "this machine has enough GPUs for TP=2 x CP=2 x DP=16";
  unsetenv("EVO2_CUDA_GROUP");
  auto model = Load(dir_, Device::kCuda, Precision::kBf16, 2, 2, 64);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition) << model.status();
  EVO2_EXPECT_CONTAINS(model.status().message(), "64 ranks need 64 GPUs, found ");
  EVO2_EXPECT_CONTAINS(model.status().message(), "EVO2_CUDA_GROUP=one-gpu");
}

}  // namespace
}  // namespace evo2
