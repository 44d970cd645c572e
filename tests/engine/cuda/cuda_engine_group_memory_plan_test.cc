// The CUDA engine group's per-rank workspace plan (cuda/engine_group/rank_buffers.h; host
// arithmetic only, runs without a GPU): the 7B at 1,048,576 tokens fits one 80 GB card per rank at
// CP=2 now that the attention gathers only K and V (a head group at a time, in the Hyena blocks'
// halo scratch) instead of the whole sequence's Wqkv rows; the K/V gather's pieces do not overlap
// and each head group's gather fits where the plan says.
#include <cstdint>
#include <cstdio>

#include "cuda/cuda_weights.h"
#include "cuda/engine_group/rank_buffers.h"
#include "cuda/gemm.h"
#include "evo2/config.h"
#include "gtest/gtest.h"
#include "parallel/sequence_split.h"

namespace evo2::cuda {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// What an 80 GB H100 offers a process (cudaMemGetInfo's total, 79.19 GiB) less a margin for the
// CUDA context, NCCL's buffers and cuDNN (about 1.5 GiB measured on one GPU).
constexpr double kH100UsableGiB = 77.5;

RankShape Shape(const ModelConfig& c, int64_t tokens, int tp, int cp) {
  return MakeRankShape(c, parallel::SequenceSplit(tokens, cp), tp, 2);
}

// Weights shard + workspace + cuBLAS scratch of one rank, GiB (bf16).
double PerRankGiB(const ModelConfig& c, const RankWorkspacePlan& plan, int tp) {
  return (double(PlannedWeightBytes(c, DType::kBFloat16)) / tp + double(plan.device_bytes()) +
          double(kLtWorkspaceBytes)) /
         kGiB;
}

TEST(EngineGroupMemoryPlan, SevenBAtOneMillionTokensFitsAnEightyGigabyteCardPerRankAtCp2) {
  auto c = ModelConfigPreset("evo2_7b");
  ASSERT_TRUE(c.ok()) << c.status();
  for (const auto& [tokens, cp] :
       {std::pair<int64_t, int>{1 << 20, 2}, {1 << 20, 4}, {2 << 20, 2}}) {
    const RankShape s = Shape(*c, tokens, 1, cp);
    const RankWorkspacePlan plan = PlanRankWorkspace(s);
    const double per_rank = PerRankGiB(*c, plan, 1);
    // The all-gather form held [P, 3H] twice per rank: gathered + natural order.
    const double wqkv_gather = 2.0 * double(s.P) * 3 * double(s.Hl) * 2 / kGiB;
    std::printf(
        "7b %lld tokens CP=%d: %.2f GiB per rank (workspace %.2f), K/V gather %lld heads x "
        "%lld; the Wqkv all-gather alone was %.2f GiB\n",
        static_cast<long long>(tokens), cp, per_rank, plan.device_bytes() / kGiB,
        static_cast<long long>(plan.kv.g), static_cast<long long>(plan.kv.groups), wqkv_gather);
    EXPECT_GT(plan.kv.g, 0);
    EXPECT_EQ(plan.kv.g * plan.kv.groups, s.heads);
    // The gather lives in the Hyena blocks' halo scratch: cp_scratch is no larger than that.
    EXPECT_LE(plan.kv.elements, MakeHyenaScratchLayout(s).elements);
    EXPECT_EQ(plan.bytes_of("cp_scratch"), size_t(MakeHyenaScratchLayout(s).elements) * 2);
    if (tokens == (1 << 20)) {
      EXPECT_LE(per_rank, kH100UsableGiB) << "CP=" << cp;
    }
  }
}

TEST(EngineGroupMemoryPlan, KvGatherPiecesAreAlignedAndDisjoint) {
  RankShape s{.H = 128,
              .Hl = 128,
              .Il = 352,
              .Vl = 512,
              .tp = 1,
              .cp = 3,
              .L = 2 * 23,
              .Lc = 23,
              .P = 6 * 23,
              .ext_rows = 127 + 23,
              .act_bytes = 2,
              .heads = 4,
              .head_dim = 32};
  for (int64_t g : {1, 2, 4}) {
    const KvGatherLayout k = MakeKvGatherLayout(s, g);
    const int64_t piece = g * s.Lc * s.head_dim;
    EXPECT_EQ(k.groups, 4 / g);
    for (int64_t off : {k.send, k.gathered, k.k, k.v, k.out}) EXPECT_EQ(off % kScratchAlign, 0);
    if (g < s.heads) {
      EXPECT_LE(k.send + 2 * piece, k.gathered);
    }
    EXPECT_LE(k.gathered + s.cp * 2 * piece, k.k);
    EXPECT_LE(k.k + g * s.P * s.head_dim, k.v);
    EXPECT_LE(k.v + g * s.P * s.head_dim, k.out);
    EXPECT_LE(k.out + (g < s.heads ? piece : 0), k.elements);
  }
  // A forced group size takes the largest divisor of the heads not above it.
  s.kv_heads_per_gather = 3;
  EXPECT_EQ(PlanRankWorkspace(s).kv.g, 2);
  s.kv_heads_per_gather = 1;
  EXPECT_EQ(PlanRankWorkspace(s).kv.g, 1);
  // CP = 1 has no gather and no CP scratch.
  s.cp = 1;
  EXPECT_EQ(PlanRankWorkspace(s).bytes_of("cp_scratch"), 0u);
}

}  // namespace
}  // namespace evo2::cuda
