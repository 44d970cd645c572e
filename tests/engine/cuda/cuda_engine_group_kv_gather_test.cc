// The context-parallel attention of the CUDA engine group gathers K and V over CP a group of
// heads at a time (cuda/engine_group/kv_gather_attention.h). Every head is independent, so the
// result must not depend on the group size: on the golden cases, CP=2, CP=3 and TP=2×CP=2 (all
// ranks on GPU 0, in-process communicator) with one head per gather
// (EVO2_CP_KV_HEADS_PER_GATHER=1: packing, per-group gathers and the strided output copy) give
// bit-identical logits to the default plan (all the rank's heads in one gather at these lengths),
// in fp32 and bf16 — same kernels on the same values, so no tolerance. Label gpu: skips without
// a CUDA device.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cuda_golden_support.h"
#include "evo2/config.h"
#include "evo2/cuda_backend.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using evo2::testing::ReadNpyTokens;

absl::StatusOr<std::unique_ptr<Model>> Load(const fs::path& dir, Precision precision, int tp,
                                            int cp) {
  return evo2::testing::LoadGoldenModel(dir, {.precision = precision, .tp = tp, .cp = cp});
}

class KvGatherHeadGroups : public ::testing::TestWithParam<std::string> {
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
  void TearDown() override {
    unsetenv("EVO2_CUDA_GROUP");
    unsetenv("EVO2_CP_KV_HEADS_PER_GATHER");
  }
  fs::path dir_;
};

TEST_P(KvGatherHeadGroups, OneHeadPerGatherIsBitIdenticalToTheDefault) {
  const auto base = ReadNpyTokens(dir_ / "len00500.tokens.npy");
  std::vector<std::vector<int32_t>> seqs = {base};
  for (size_t n : {3, 131})  // fewer tokens than chunks; chunks shorter than the hcm halo
    seqs.emplace_back(base.begin(), base.begin() + static_cast<ptrdiff_t>(n));
  ForwardOptions fo;
  fo.logits = true;
  struct L {
    const char* name;
    int tp, cp;
  };
  for (Precision p : {Precision::kFp32, Precision::kBf16}) {
    for (const L& l : {L{"CP2", 1, 2}, L{"CP3", 1, 3}, L{"TP2xCP2", 2, 2}}) {
      SCOPED_TRACE(std::string(l.name) + (p == Precision::kFp32 ? " fp32" : " bf16"));
      unsetenv("EVO2_CP_KV_HEADS_PER_GATHER");
      auto whole = Load(dir_, p, l.tp, l.cp);
      if (!whole.ok() && l.tp > 1) {  // e.g. TP=2 with 3 heads: Megatron's rules refuse it
        std::printf("%s %s: not loaded (%s)\n", GetParam().c_str(), l.name,
                    std::string(whole.status().message()).c_str());
        continue;
      }
      ASSERT_TRUE(whole.ok()) << whole.status();
      setenv("EVO2_CP_KV_HEADS_PER_GATHER", "1", 1);
      auto per_head = Load(dir_, p, l.tp, l.cp);
      ASSERT_TRUE(per_head.ok()) << per_head.status();
      const auto t0 = std::chrono::steady_clock::now();
      double worst = 0;
      for (const auto& s : seqs) {
        auto a = (*whole)->Forward(s, fo);
        ASSERT_TRUE(a.ok()) << a.status();
        auto b = (*per_head)->Forward(s, fo);
        ASSERT_TRUE(b.ok()) << b.status();
        ASSERT_EQ(a->logits.size(), b->logits.size());
        for (float v : b->logits) ASSERT_TRUE(std::isfinite(v)) << "non-finite logit";
        const double d = evo2::testing::MaxAbsDiff(b->logits, a->logits);
        EXPECT_EQ(d, 0.0) << "length " << s.size();
        worst = std::max(worst, d);
      }
      std::printf(
          "%s %s %s: one head per gather vs default, max |Δ logit| %.1e (%.0f ms)\n",
          GetParam().c_str(), l.name, p == Precision::kFp32 ? "fp32" : "bf16", worst,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, KvGatherHeadGroups,
                         ::testing::Values("a_tiny6", "b_small10", "c_7blike32"));

}  // namespace
}  // namespace evo2
