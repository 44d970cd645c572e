// Host logic of the CUDA engine group, without a GPU: the halo plan (which rows each
// context-parallel rank sends and where they land, cuda/engine_group/halo_plan.h) and the rank
// placement (cuda/engine_group/rank_placement.h).
#include <map>
#include <tuple>
#include <vector>

#include "cuda/engine_group/halo_plan.h"
#include "cuda/engine_group/rank_placement.h"
#include "evo2/config.h"
#include "gtest/gtest.h"
#include "parallel/group_layout.h"
#include "parallel/sequence_split.h"
#include "support/expect_contains.h"

namespace evo2::cuda {
namespace {

using parallel::SequenceSplit;

// Simulates the exchange on host arrays: the value at position p is p + 1 (0 = a zero row).
// Every region row from `front` must hold the input at its position, or 0 before position 0;
// every send must meet a receive with the same tag and size on the peer.
void CheckHalos(int64_t S, int cp, int64_t halo) {
  SCOPED_TRACE(testing::Message() << "S=" << S << " CP=" << cp << " halo=" << halo);
  const SequenceSplit split(S, cp);
  const HaloLayout h = MakeHaloLayout(split.chunk_tokens(), halo);
  ASSERT_GE(h.front, 0);
  ASSERT_LT(h.front, std::max<int64_t>(h.Lc, 1));
  std::vector<std::vector<int64_t>> local(static_cast<size_t>(cp));
  for (int r = 0; r < cp; ++r)
    for (int64_t row = 0; row < split.LocalRows(); ++row)
      local[static_cast<size_t>(r)].push_back(split.Position(r, row) + 1);
  // (from rank, to rank, tag) → rows sent
  std::map<std::tuple<int, int, int64_t>, const HaloMessage*> sent;
  std::vector<HaloPlan> plans;
  for (int r = 0; r < cp; ++r) plans.push_back(MakeHaloPlan(split, r, h));
  for (int r = 0; r < cp; ++r) {
    for (size_t m = 1; m < plans[r].sends.size(); ++m)
      EXPECT_LT(plans[r].sends[m - 1].tag, plans[r].sends[m].tag) << "sends in tag order";
    for (const HaloMessage& s : plans[r].sends) sent[{r, s.peer, s.tag}] = &s;
  }
  size_t received = 0;
  for (int r = 0; r < cp; ++r) {
    const auto& mine = split.ChunksOf(r);
    std::vector<std::vector<int64_t>> region(
        mine.size(), std::vector<int64_t>(static_cast<size_t>(h.region), 0));
    for (size_t j = 0; j < mine.size(); ++j)
      for (int64_t t = 0; t < h.Lc; ++t)
        region[j][static_cast<size_t>(h.front + h.halo + t)] =
            local[static_cast<size_t>(r)][static_cast<size_t>(static_cast<int64_t>(j) * h.Lc + t)];
    for (const HaloMessage& m : plans[r].recvs) {
      auto it = sent.find({m.peer, r, m.tag});
      ASSERT_NE(it, sent.end()) << "receive of tag " << m.tag << " that nobody sends";
      ASSERT_EQ(it->second->rows, m.rows);
      ++received;
      ASSERT_LE(m.region_row + m.rows, h.region);
      for (int64_t t = 0; t < m.rows; ++t)
        region[static_cast<size_t>(m.chunk_index)][static_cast<size_t>(m.region_row + t)] =
            local[static_cast<size_t>(m.peer)][static_cast<size_t>(it->second->local_row + t)];
    }
    for (size_t j = 0; j < mine.size(); ++j) {
      const int64_t first = mine[j] * h.Lc - h.halo;  // position of region row `front`
      for (int64_t t = 0; t < h.halo + h.Lc; ++t) {
        const int64_t pos = first + t;
        ASSERT_EQ(region[j][static_cast<size_t>(h.front + t)], pos < 0 ? 0 : pos + 1)
            << "rank " << r << " chunk " << mine[j] << " row " << t;
      }
    }
  }
  EXPECT_EQ(received, sent.size()) << "every send has its receive";
}

TEST(HaloPlan, EveryRegionHoldsItsHaloForAnyLengthRanksAndFilter) {
  for (int64_t S : {1, 2, 3, 7, 13, 131, 500, 2048})
    for (int cp : {1, 2, 3, 4})
      for (int64_t halo : {2, 6, 127}) CheckHalos(S, cp, halo);
}

TEST(HaloPlan, LongChunksTakeOnlyThePrecedingChunksTail) {
  const HaloLayout h = MakeHaloLayout(1000, 127);
  EXPECT_EQ(h.reach, 1);
  EXPECT_EQ(h.tail, 127);
  EXPECT_EQ(h.front, 0);
  EXPECT_EQ(h.region, 127 + 1000);
}

ModelConfig TinyConfig() {
  ModelConfig c;
  c.hidden_size = 128;
  c.num_heads = 4;
  c.head_dim = 32;
  c.inner_mlp_size = 352;
  c.vocab_size = 512;
  c.hcs_filter_groups = 8;
  c.hcm_filter_groups = 8;
  return c;
}

TEST(RankPlacement, EnoughGpusPutsRankIOnGpuI) {
  auto layout = parallel::MakeGroupLayout(TinyConfig(), 2, 2, 8);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto p = PlaceGroup(*layout, 8, std::nullopt);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->one_gpu);
  ASSERT_EQ(p->device.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(p->device[static_cast<size_t>(i)], i);
  EXPECT_EQ(p->ToString(), "8 ranks on GPUs 0-7 (NCCL)");
}

TEST(RankPlacement, TooFewGpusSaysHowManyAndNamesTheVariable) {
  auto layout = parallel::MakeGroupLayout(TinyConfig(), 2, 2, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto p = PlaceGroup(*layout, 1, std::nullopt);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.status().message(),
            "TP×CP×DP = 4 ranks need 4 GPUs, found 1; EVO2_CUDA_GROUP=one-gpu runs them all on "
            "GPU 0 for checking");
}

TEST(RankPlacement, OneGpuPutsEveryRankOnGpuZero) {
  auto layout = parallel::MakeGroupLayout(TinyConfig(), 2, 1, 4);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto p = PlaceGroup(*layout, 1, "one-gpu");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->one_gpu);
  EXPECT_EQ(p->device, std::vector<int>(4, 0));
  EXPECT_EQ(p->ToString(), "4 ranks on GPU 0 (in-process)");
}

TEST(RankPlacement, UnknownGroupValueAndNoGpuAreClearErrors) {
  auto layout = parallel::MakeGroupLayout(TinyConfig(), 2, 1, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto bad = PlaceGroup(*layout, 2, "two-gpus");
  ASSERT_FALSE(bad.ok());
  EVO2_EXPECT_CONTAINS(bad.status().message(),
                       "EVO2_CUDA_GROUP=two-gpus: the only value is one-gpu");
  auto none = PlaceGroup(*layout, 0, "one-gpu");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace evo2::cuda
