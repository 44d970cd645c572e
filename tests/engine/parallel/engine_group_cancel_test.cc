// An engine group stops on cancellation (ForwardOptions::cancelled) without hanging, whichever
// rank sees the flag first (the others are released by its abort), returns CANCELLED, and the
// next forward on the same model runs normally with fresh communicators.
#include <atomic>
#include <chrono>
#include <thread>

#include "evo2/model.h"
#include "gtest/gtest.h"
#include "support/golden_compare.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

TEST(EngineGroupCancel, CancelledForwardReturnsCancelledAndTheGroupStaysUsable) {
  auto dir = testing::GoldenCaseDir("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  LoadOptions o;
  o.checkpoint = *dir / "model.pt";
  o.threads = 2;
  o.tensor_parallel_size = 2;
  o.context_parallel_size = 2;
  auto model = LoadModel(o);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto tokens = testing::ReadNpyTokens(*dir / "len08192.tokens.npy");
  ASSERT_EQ(tokens.size(), 8192u);

  std::atomic<bool> cancelled{true};
  ForwardOptions opts;
  opts.cancelled = &cancelled;
  auto r = (*model)->Forward(tokens, opts);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();

  // Mid-forward: the 8,192-token forward takes well over the 30 ms before the flag is set.
  cancelled = false;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancelled = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  r = (*model)->Forward(tokens, opts);
  setter.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60.0);

  // Usable afterwards: a short record gives the single-rank result.
  cancelled = false;
  const std::vector<int32_t> head(tokens.begin(), tokens.begin() + 100);
  auto again = (*model)->Forward(head, opts);
  ASSERT_TRUE(again.ok()) << again.status();
  o.tensor_parallel_size = o.context_parallel_size = 1;
  auto single = LoadModel(o);
  ASSERT_TRUE(single.ok()) << single.status();
  auto want = (*single)->Forward(head, ForwardOptions{});
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_LE(testing::MaxAbsDiff(again->log_probs, want->log_probs), 1e-5);  // as in the golden test
}

}  // namespace
}  // namespace evo2
