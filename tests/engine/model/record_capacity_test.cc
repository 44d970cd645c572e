// MaxRecordTokens (evo2/record_capacity.h): the longest record a loaded model can run within a
// memory budget, from the backend's own working-memory plan. Checked against the plan itself
// (the answer fits, one more token does not), for log-probs and logits, for the CPU backend and
// the CPU engine group, and by running a forward of the advertised length.
#include "evo2/record_capacity.h"

#include <random>

#include "evo2/config.h"
#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

std::unique_ptr<Model> LoadDemo(int tp = 1, int cp = 1) {
  LoadOptions options;
  options.checkpoint = testing::SourceDir() / "models" / "evo2-demo";
  options.tensor_parallel_size = tp;
  options.context_parallel_size = cp;
  options.threads = 1;
  auto model = LoadModel(options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

ForwardOptions LogitsToo() {
  ForwardOptions o;
  o.logits = true;
  return o;
}

// The answer is exact against the plan: it fits the budget and one token more does not.
void ExpectTight(const Model& model, const ForwardOptions& options, int64_t budget) {
  auto tokens = MaxRecordTokens(model, options, budget);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_LE(*model.ForwardWorkingBytes(*tokens, options), budget);
  EXPECT_GT(*model.ForwardWorkingBytes(*tokens + 1, options), budget);
}

TEST(RecordCapacity, TightAgainstThePlanForLogProbsAndLogits) {
  for (auto [tp, cp] : {std::pair{1, 1}, std::pair{1, 2}}) {
    SCOPED_TRACE(::testing::Message() << "tp " << tp << " cp " << cp);
    auto model = LoadDemo(tp, cp);
    ASSERT_NE(model, nullptr);
    const int64_t budget = 8 << 20;  // 8 MiB: a few thousand tokens of the demo model
    ExpectTight(*model, ForwardOptions{}, budget);
    ExpectTight(*model, LogitsToo(), budget);
    // Logits [S, 512] fp32 cost more per token than log-probs alone.
    EXPECT_LT(*MaxRecordTokens(*model, LogitsToo(), budget),
              *MaxRecordTokens(*model, ForwardOptions{}, budget));
    // A larger budget never gives a shorter record.
    EXPECT_GE(*MaxRecordTokens(*model, ForwardOptions{}, 2 * budget),
              *MaxRecordTokens(*model, ForwardOptions{}, budget));
  }
}

TEST(RecordCapacity, CapsAtMaxTokens) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  auto tokens = MaxRecordTokens(*model, ForwardOptions{}, int64_t{1} << 40, 1000);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, 1000);
}

TEST(RecordCapacity, TooSmallABudgetIsAnError) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  auto tokens = MaxRecordTokens(*model, ForwardOptions{}, 16);
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kResourceExhausted) << tokens.status();
  EXPECT_NE(tokens.status().message().find("16 bytes"), std::string::npos) << tokens.status();
  EXPECT_EQ(MaxRecordTokens(*model, ForwardOptions{}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordCapacity, TheAdvertisedLengthRuns) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  auto tokens = MaxRecordTokens(*model, ForwardOptions{}, 2 << 20);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_GT(*tokens, 16);
  std::mt19937 rng(7);
  std::vector<int32_t> seq(static_cast<size_t>(*tokens));
  for (auto& t : seq) t = "ACGT"[rng() % 4];
  auto r = model->Forward(seq, ForwardOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(static_cast<int64_t>(r->log_probs.size()), *tokens - 1);
}

TEST(RecordCapacity, HostBackendsBudgetIsAvailableMemory) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  auto budget = DefaultWorkingMemoryBudgetBytes(*model);
  ASSERT_TRUE(budget.ok()) << budget.status();  // /proc/meminfo exists on the test hosts
  EXPECT_GT(*budget, 0);
}

}  // namespace
}  // namespace evo2
