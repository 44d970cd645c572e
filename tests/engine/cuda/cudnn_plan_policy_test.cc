// CudnnPlanPolicy (engine/src/cuda/cudnn_plan_policy.h): when a cuDNN attention plan is built.
// Pure host logic, so it runs on every machine.
#include "cuda/cudnn_plan_policy.h"

#include "gtest/gtest.h"

namespace evo2::cuda {
namespace {

// 7B shapes: 5 attention layers, H = 4096.
TEST(CudnnPlanPolicyTest, AutoBuildsOnTheSecondPassOfAShape) {
  CudnnPlanPolicy policy(CudnnPlanPolicy::Mode::kAuto, 5, 4096);
  // 1 × 8192: one pass saves ~5 ms, less than a plan build: own kernel first, cuDNN once it recurs.
  EXPECT_LT(policy.PassSavingSeconds(1, 8192), CudnnPlanPolicy::kPlanBuildSeconds);
  EXPECT_FALSE(policy.ShouldUse(1, 8192));
  EXPECT_FALSE(policy.ShouldUse(1, 9000));  // another shape: its own count
  EXPECT_TRUE(policy.ShouldUse(1, 8192));
  EXPECT_TRUE(policy.ShouldUse(1, 8192));
  EXPECT_TRUE(policy.ShouldUse(1, 9000));
}

TEST(CudnnPlanPolicyTest, AutoBuildsAtOnceWhenOnePassPaysForTheBuild) {
  CudnnPlanPolicy policy(CudnnPlanPolicy::Mode::kAuto, 5, 4096);
  // 1 × 32768: ~88 ms saved in one pass (2·S²·H·5 = 4.4e13 FLOP).
  EXPECT_GT(policy.PassSavingSeconds(1, 32768), CudnnPlanPolicy::kPlanBuildSeconds);
  EXPECT_TRUE(policy.ShouldUse(1, 32768));
}

TEST(CudnnPlanPolicyTest, AutoNeverBuildsForShortPasses) {
  CudnnPlanPolicy policy(CudnnPlanPolicy::Mode::kAuto, 5, 4096);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(policy.ShouldUse(1, CudnnPlanPolicy::kMinRows - 1));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(policy.ShouldUse(4, 1000));
}

TEST(CudnnPlanPolicyTest, RefusedShapesAreNotTriedAgain) {
  for (auto mode : {CudnnPlanPolicy::Mode::kAuto, CudnnPlanPolicy::Mode::kAlways}) {
    CudnnPlanPolicy policy(mode, 5, 4096);
    policy.MarkRefused(1, 65536);
    EXPECT_FALSE(policy.ShouldUse(1, 65536));
    EXPECT_FALSE(policy.ShouldUse(1, 65536));
  }
}

TEST(CudnnPlanPolicyTest, AlwaysBuildsForEverySupportedShapeAndNoneWithoutAttention) {
  CudnnPlanPolicy always(CudnnPlanPolicy::Mode::kAlways, 5, 4096);
  EXPECT_TRUE(always.ShouldUse(1, 17));
  EXPECT_TRUE(always.ShouldUse(3, 500));
  CudnnPlanPolicy no_attention(CudnnPlanPolicy::Mode::kAlways, 0, 4096);
  EXPECT_FALSE(no_attention.ShouldUse(1, 131072));
}

}  // namespace
}  // namespace evo2::cuda
