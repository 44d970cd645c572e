// Memory planning of the NemotronH (Mamba-2 hybrid) family on the cuda backend (host arithmetic
// only: runs without a GPU): the hybrid_mamba_8b shape must fit one 80 GB card at 131 072 tokens
// (log-probs only), and the workspace grows with the sequence only where the math needs it.
#include <cstdint>

#include "cuda/nemotron_h/nemotron_h_device_weights.h"
#include "cuda/nemotron_h/nemotron_h_workspace.h"
#include "gtest/gtest.h"
#include "hf/nemotron_h_config.h"

namespace evo2::cuda {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

TEST(NemotronHMemoryPlanTest, EightBFitsOneEightyGigabyteCardAt131kTokens) {
  const hf::NemotronHConfig c = hf::HybridMamba8bConfig();
  ASSERT_EQ(c.num_layers(), 52);
  const double weights = PlannedNemotronHWeightBytes(c, DType::kBFloat16) / kGiB;
  // 7.04e9 parameters in bf16: 24 Mamba layers of 110M (in_proj 18 560 × 4096, out_proj
  // 4096 × 8192), 24 MLP layers of 176M, 4 attention layers of 42M, embedding and head 2M each.
  EXPECT_NEAR(weights, 13.1, 0.1);
  const double ws = PlanNemotronHWorkspace(c, DType::kBFloat16, 1, 131072).total() / kGiB;
  std::printf("hybrid_mamba_8b bf16 at 131072 tokens: weights %.2f GiB + workspace %.2f GiB\n",
              weights, ws);
  // An H100 has 79.6 GiB; the CUDA context, cuBLAS(Lt) and cuDNN scratch take ≈ 1–2 GiB.
  EXPECT_LE(weights + ws, 76.0);
}

TEST(NemotronHMemoryPlanTest, OnlyPerPositionBuffersGrowWithTheSequence) {
  const hf::NemotronHConfig c = hf::HybridMamba8bConfig();
  const auto short_plan = PlanNemotronHWorkspace(c, DType::kBFloat16, 1, 131072);
  const auto long_plan = PlanNemotronHWorkspace(c, DType::kBFloat16, 1, 262144);
  EXPECT_EQ(short_plan.mlp, long_plan.mlp);        // row chunks of kMlpChunkRows
  EXPECT_EQ(short_plan.logits, long_plan.logits);  // row chunks of kHeadChunkRows
  EXPECT_EQ(2 * short_plan.proj, long_plan.proj);
  EXPECT_LE(long_plan.total(), 2 * short_plan.total());
  // A pattern without attention plans no attention buffers, one without Mamba no scan scratch.
  hf::NemotronHConfig mlp_only = c;
  mlp_only.layers.assign(4, hf::NemotronHLayerKind::kMlp);
  const auto p = PlanNemotronHWorkspace(mlp_only, DType::kBFloat16, 1, 4096);
  EXPECT_EQ(p.attn, 0u);
  EXPECT_EQ(p.scan, 0u);
  EXPECT_EQ(p.proj, 0u);
}

// Attention head dims the kernels lack run zero-widened; the widening prefers a power-of-4 ratio
// (exact q scaling by a power of two).
TEST(NemotronHMemoryPlanTest, AttentionHeadDimWidening) {
  EXPECT_EQ(AttentionKernelHeadDim(32), 32);
  EXPECT_EQ(AttentionKernelHeadDim(64), 64);
  EXPECT_EQ(AttentionKernelHeadDim(128), 128);
  EXPECT_EQ(AttentionKernelHeadDim(16), 64);  // m_hybrid_b: ratio 4, q scaled by 2
  EXPECT_EQ(AttentionKernelHeadDim(8), 32);
  EXPECT_EQ(AttentionKernelHeadDim(2), 32);   // ratio 16
  EXPECT_EQ(AttentionKernelHeadDim(48), 64);  // no power-of-4 ratio: the next compiled size
  EXPECT_EQ(AttentionKernelHeadDim(96), 128);
  EXPECT_EQ(AttentionKernelHeadDim(256), 0);  // refused at load
  hf::NemotronHConfig c = hf::HybridMamba8bConfig();
  c.attention_head_dim = 16;
  const auto narrow = PlanNemotronHWorkspace(c, DType::kBFloat16, 1, 1000);
  EXPECT_EQ(narrow.attn, 4u * 1000 * 32 * 64 * 2);
}

}  // namespace
}  // namespace evo2::cuda
