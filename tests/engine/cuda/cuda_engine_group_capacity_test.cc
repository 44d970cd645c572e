// Admission control for a CUDA engine group (cuda_engine_group_capacity.cc): the working memory
// the group reports for a record length is exactly what a forward of that length then allocates
// on its GPU (the ranks' workspace plan, all ranks here on GPU 0), MaxRecordTokens turns a budget
// into the longest length whose plan fits it, and the default budget (the GPUs' free memory plus
// the buffers a larger record would replace) is known. Golden case a_tiny6: one GPU, and CP=2 and
// TP=2×CP=2 with one-GPU placement. Label gpu: skips without a CUDA device.
#include <cuda_runtime.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "cuda_golden_support.h"
#include "evo2/config.h"
#include "evo2/cuda_backend.h"
#include "evo2/model.h"
#include "evo2/record_capacity.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

class CudaEngineGroupCapacity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!evo2::testing::HaveCudaDevice())
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
    auto dir = evo2::testing::GoldenCaseDirFromEnv("a_tiny6");
    if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
    dir_ = *dir;
    RegisterCudaBackend();
    setenv("EVO2_CUDA_GROUP", "one-gpu", 1);
  }
  void TearDown() override { unsetenv("EVO2_CUDA_GROUP"); }

  absl::StatusOr<std::unique_ptr<Model>> Load(int tp, int cp) const {
    return evo2::testing::LoadGoldenModel(dir_, {.tp = tp, .cp = cp});
  }
  fs::path dir_;
};

TEST_F(CudaEngineGroupCapacity, PlanEqualsWhatAForwardAllocatesAndBoundsTheLongestRecord) {
  const std::vector<int32_t> base = evo2::testing::ReadNpyTokens(dir_ / "len02048.tokens.npy");
  ForwardOptions fo;  // log-probs only, as a worker scores by default
  struct Layout {
    int tp, cp;
  };
  for (const Layout l : {Layout{1, 1}, Layout{1, 2}, Layout{2, 2}}) {
    SCOPED_TRACE(::testing::Message() << "TP=" << l.tp << " CP=" << l.cp);
    auto model = Load(l.tp, l.cp);
    ASSERT_TRUE(model.ok()) << model.status();
    Model& m = **model;

    // Defined and non-decreasing in the length (MaxRecordTokens bisects on it).
    std::optional<int64_t> previous;
    for (int64_t s : {1, 2, 3, 17, 500, 501, 2048, 100000}) {
      const std::optional<int64_t> need = m.ForwardWorkingBytes(s, fo);
      ASSERT_TRUE(need.has_value()) << s;
      ASSERT_GT(*need, 0) << s;
      if (previous.has_value()) {
        EXPECT_GE(*need, *previous) << s;
      }
      previous = need;
    }

    // A fresh group holds no rank buffers; one forward of S tokens grows them to the plan.
    const int64_t S = 1001;  // odd: the zigzag split pads it
    const std::optional<size_t> before = m.device_memory_bytes();
    ASSERT_TRUE(before.has_value());
    auto out = m.Forward(std::span<const int32_t>(base.data(), S), fo);
    ASSERT_TRUE(out.ok()) << out.status();
    const std::optional<size_t> after = m.device_memory_bytes();
    ASSERT_TRUE(after.has_value());
    const int64_t need = *m.ForwardWorkingBytes(S, fo);
    const int64_t grown = static_cast<int64_t>(*after - *before);
    if (l.tp * l.cp > 1) {
      EXPECT_EQ(grown, need) << "the plan must be exactly what the ranks on GPU 0 allocated";
    } else {
      // One GPU (cuda_model_capacity.cc): the workspace plan, plus whatever cuDNN's attention
      // workspace took, which only cuDNN sizes (documented as left out of the plan).
      EXPECT_GE(grown, need);
      EXPECT_LE(grown, need + (int64_t{256} << 20));
    }

    // The longest record for a budget of that need is at least S, and one more token's plan is
    // over the budget (the answer is the largest that fits, not merely one that does).
    auto longest = MaxRecordTokens(m, fo, need, int64_t{1} << 24);
    ASSERT_TRUE(longest.ok()) << longest.status();
    EXPECT_GE(*longest, S);
    EXPECT_GT(*m.ForwardWorkingBytes(*longest + 1, fo), need);

    // The default budget: what the GPU has free plus the buffers this group already holds.
    auto budget = DefaultWorkingMemoryBudgetBytes(m);
    ASSERT_TRUE(budget.ok()) << budget.status();
    size_t free_bytes = 0, total_bytes = 0;
    ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
    EXPECT_GE(*budget, need);
    EXPECT_LE(*budget, static_cast<int64_t>(total_bytes));
    auto on_this_gpu = MaxRecordTokens(m, fo, *budget, int64_t{1} << 24);
    ASSERT_TRUE(on_this_gpu.ok()) << on_this_gpu.status();
    std::printf("TP=%d CP=%d: %lld tokens need %.1f MiB on GPU 0; the free memory holds %lld\n",
                l.tp, l.cp, static_cast<long long>(S), need / 1048576.0,
                static_cast<long long>(*on_this_gpu));
    EXPECT_GE(*on_this_gpu, S);
  }
}

}  // namespace
}  // namespace evo2
