// The GPU backends' host side of a batched pass (cuda/record_batch.h): grouping records under a
// row budget, packing them right-padded with next-token targets, planning the captures and
// cutting the padded outputs back into per-record results.
#include "cuda/record_batch.h"

#include <string>
#include <vector>

#include "evo2/config.h"
#include "gtest/gtest.h"

namespace evo2::cuda {
namespace {

ModelConfig SmallLlama() {
  ModelConfig c;
  c.family = ModelFamily::kLlama;
  c.num_layers = 4;
  c.hidden_size = 2;
  c.vocab_size = 512;
  return c;
}

TEST(RecordBatchTest, GroupsStayWithinTheRowBudget) {
  const std::vector<std::vector<int32_t>> s = {std::vector<int32_t>(3), std::vector<int32_t>(5),
                                               std::vector<int32_t>(2), std::vector<int32_t>(9),
                                               std::vector<int32_t>(1)};
  // Budget 10: {3, 5} pads to 2·5 = 10 (adding 2 would make 3·5 = 15); {2, 9} would be 2·9 = 18;
  // the 9-token record runs alone (and so would a record over the budget), then {1}.
  const auto groups = GroupByRowBudget(s, 10);
  const std::vector<std::pair<size_t, size_t>> want = {{0, 2}, {2, 3}, {3, 4}, {4, 5}};
  EXPECT_EQ(groups, want);
}

TEST(RecordBatchTest, PacksRightPaddedWithTargets) {
  const std::vector<std::vector<int32_t>> s = {{65, 67, 71}, {84}};
  auto p = PackRecords(s, 512, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->batch, 2);
  EXPECT_EQ(p->seq, 3);
  EXPECT_EQ(p->tokens, (std::vector<int32_t>{65, 67, 71, 84, 0, 0}));
  EXPECT_EQ(p->targets, (std::vector<int32_t>{67, 71, -1, -1, -1, -1}));
}

TEST(RecordBatchTest, NamesTheRecordAndPositionOfABadToken) {
  const std::vector<std::vector<int32_t>> s = {{65}, {65, 600}};
  auto p = PackRecords(s, 512, 0);
  ASSERT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(p.status().message()).find("record 1: token 600 at position 1"),
            std::string::npos)
      << p.status();
}

TEST(RecordBatchTest, PlansWholeLayerCaptures) {
  ForwardOptions o;
  o.layers = {"decoder.layers.2", "module.embedding", "decoder.final_norm"};
  o.hidden_after_blocks = {0, 2};
  auto plan = PlanCaptures(SmallLlama(), o, "cuda");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->blocks, (std::vector<int>{-1, 0, 2}));
  EXPECT_EQ(plan->names_by_block.at(2), "decoder.layers.2");
  EXPECT_EQ(plan->names_by_block.at(-1), "module.embedding");
  EXPECT_EQ(plan->final_norm_names, (std::vector<std::string>{"decoder.final_norm"}));

  ForwardOptions out_of_range;
  out_of_range.hidden_after_blocks = {4};
  EXPECT_EQ(PlanCaptures(SmallLlama(), out_of_range, "cuda").status().code(),
            absl::StatusCode::kInvalidArgument);
  ForwardOptions inner;
  inner.layers = {"blocks.1.mlp.l3"};
  EXPECT_FALSE(PlanCaptures(SmallLlama(), inner, "cuda").ok());
}

TEST(RecordBatchTest, UnpacksEachRecordsRows) {
  const std::vector<std::vector<int32_t>> s = {{65, 67, 71}, {84}};
  ForwardOptions o;
  o.logits = true;
  o.hidden_after_blocks = {1};
  auto plan = PlanCaptures(SmallLlama(), o, "cuda");
  ASSERT_TRUE(plan.ok());
  const int64_t S = 3, H = 2, V = 1;  // a 1-wide "vocabulary" keeps the arrays readable
  PassOutputs out;
  out.log_probs = {-1, -2, 0, 0, 0, 0};
  out.logits = {10, 11, 12, 20, 21, 22};
  out.by_block[1] = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6};
  const auto r = UnpackRecords(s, S, H, V, o, *plan, out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].log_probs, (std::vector<float>{-1, -2}));
  EXPECT_EQ(r[0].logits, (std::vector<float>{10, 11, 12}));
  EXPECT_EQ(r[0].hidden.at(1), (std::vector<float>{1, 1, 2, 2, 3, 3}));
  EXPECT_TRUE(r[1].log_probs.empty());  // one token: nothing to score
  EXPECT_EQ(r[1].logits, (std::vector<float>{20}));
  EXPECT_EQ(r[1].hidden.at(1), (std::vector<float>{4, 4}));
}

// The whole host side of Forward/ForwardBatch around a device pass. The pass here is a host
// function with the device pass's contract (fills what the request points at from the tokens),
// so the packing, grouping and unpacking are checked end to end.
TEST(RecordBatchTest, RunRecordsSplitsIntoPassesAndReassembles) {
  const std::vector<std::vector<int32_t>> s = {{65, 67, 71}, {84, 65}, {71, 71, 71, 71, 71}};
  ForwardOptions o;
  o.layers = {"blocks.3"};
  std::vector<std::pair<int64_t, int64_t>> passes;  // (batch, seq) of each pass
  auto run = [&](const RunRequest& r) -> absl::Status {
    passes.emplace_back(r.batch, r.seq);
    EXPECT_FALSE(r.skip_head);  // log-probs are asked for
    EXPECT_EQ(r.logits_host, nullptr);
    for (int64_t row = 0; row < r.batch * r.seq; ++row) {
      // "log-prob" = the target id, so the test sees which target each row got.
      r.log_probs_host[row] = static_cast<float>(r.targets_host[row]);
      float* h = r.hidden_host.at(3) + row * 2;
      h[0] = h[1] = static_cast<float>(r.tokens_host[row]);
    }
    return absl::OkStatus();
  };
  // 6 rows per pass: {3, 2} pads to 2·3 = 6; the 5-token record runs alone.
  auto results = RunRecords(SmallLlama(), s, o, /*pad_id=*/0, /*max_rows=*/6, run);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(passes, (std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {1, 5}}));
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].log_probs, (std::vector<float>{67, 71}));
  EXPECT_EQ((*results)[1].log_probs, (std::vector<float>{65}));
  EXPECT_EQ((*results)[2].log_probs, (std::vector<float>{71, 71, 71, 71}));
  EXPECT_EQ((*results)[1].layers.at("blocks.3"), (std::vector<float>{84, 84, 65, 65}));

  // A device error comes back as it is.
  auto failing = [](const RunRequest&) { return absl::ResourceExhaustedError("out of memory"); };
  EXPECT_EQ(RunRecords(SmallLlama(), s, o, 0, 6, failing).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Only hidden states asked for: the head is skipped.
  ForwardOptions hidden_only;
  hidden_only.log_probs = false;
  hidden_only.hidden_after_blocks = {0};
  bool skipped = false;
  auto check_skip = [&](const RunRequest& r) {
    skipped = r.skip_head && r.log_probs_host == nullptr;
    return absl::OkStatus();
  };
  ASSERT_TRUE(RunRecords(SmallLlama(), s, hidden_only, 0, 64, check_skip).ok());
  EXPECT_TRUE(skipped);
}

}  // namespace
}  // namespace evo2::cuda
