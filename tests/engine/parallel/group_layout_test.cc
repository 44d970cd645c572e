// Engine-group shapes: Megatron's divisibility rules with errors that name the dimension, and the
// zigzag placement of a sequence over CP ranks (every position exactly once, balanced work).
#include "parallel/group_layout.h"

#include <set>

#include "evo2/config.h"
#include "gtest/gtest.h"
#include "parallel/sequence_split.h"
#include "support/expect_contains.h"

namespace evo2::parallel {
namespace {

TEST(GroupLayout, OneBHasFifteenHeadsSoTpTwoIsRefused) {
  auto c = ModelConfigPreset("1b");
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = MakeGroupLayout(*c, 2, 1, 0);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EVO2_EXPECT_CONTAINS(g.status().message(), "tensor-parallel size 2 does not divide the 15");
  EVO2_EXPECT_CONTAINS(g.status().message(), "possible here: 1");
}

TEST(GroupLayout, SevenBAllowsTpEightWithCpAndReplicas) {
  auto c = ModelConfigPreset("7b");
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = MakeGroupLayout(*c, 4, 2, 8);  // the reference's headline example
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->dp, 1);
  g = MakeGroupLayout(*c, 2, 2, 8);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->dp, 2);
  EXPECT_EQ(g->ToString(), "TP=2 x CP=2 x DP=2 (8 ranks)");
}

TEST(GroupLayout, DevicesMustBeAMultipleAndWithinTheLimit) {
  auto c = ModelConfigPreset("7b");
  ASSERT_TRUE(c.ok());
  auto g = MakeGroupLayout(*c, 2, 2, 6);
  ASSERT_FALSE(g.ok());
  EVO2_EXPECT_CONTAINS(g.status().message(), "devices = 6 is not a multiple of TP x CP = 4");
  g = MakeGroupLayout(*c, 4, 4, 0, /*max_devices=*/8);
  ASSERT_FALSE(g.ok());
  EVO2_EXPECT_CONTAINS(g.status().message(), "needs 16 devices; at most 8");
  g = MakeGroupLayout(*c, 0, 1, 0);
  EXPECT_FALSE(g.ok());
}

TEST(SequenceSplit, ZigzagCoversEveryPositionOnceAndBalancesCausalWork) {
  for (int cp : {1, 2, 3, 4}) {
    for (int64_t S : {1, 2, 3, 5, 7, 8, 13, 100, 101}) {
      SequenceSplit split(S, cp);
      EXPECT_GE(split.padded_tokens(), S);
      EXPECT_EQ(split.padded_tokens() % split.num_chunks(), 0);
      std::set<int64_t> seen;
      std::vector<int64_t> work(static_cast<size_t>(cp));  // Σ keys seen by the rank's queries
      for (int r = 0; r < cp; ++r) {
        for (int64_t row = 0; row < split.LocalRows(); ++row) {
          const int64_t pos = split.Position(r, row);
          EXPECT_TRUE(seen.insert(pos).second) << "position " << pos << " twice";
          work[static_cast<size_t>(r)] += pos + 1;
        }
        for (int chunk : split.ChunksOf(r)) EXPECT_EQ(split.Owner(chunk), r);
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), split.padded_tokens());
      // Zigzag: chunks r and 2CP−1−r together see the same number of keys on every rank.
      for (int r = 1; r < cp; ++r) EXPECT_EQ(work[static_cast<size_t>(r)], work[0]) << S;
    }
  }
}

}  // namespace
}  // namespace evo2::parallel
