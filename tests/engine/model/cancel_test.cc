// Cancellation inside a forward: a flag set while the network runs ends Forward with CANCELLED
// before the last block (the backends check ForwardOptions::cancelled between blocks), and a
// record's scoring through the Predictor stops the same way. Prints the measured latency from
// setting the flag to Forward returning.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/predictor.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<Model> LoadDemo() {
  LoadOptions options;
  options.checkpoint = testing::SourceDir() / "models" / "evo2-demo";
  auto model = LoadModel(options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

std::vector<int32_t> RandomDna(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t bases[4] = {'A', 'C', 'G', 'T'};
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = bases[rng() % 4];
  return tokens;
}

TEST(Cancel, FlagSetBeforeForwardStopsAtFirstBlock) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  std::atomic<bool> cancelled{true};
  ForwardOptions options;
  options.cancelled = &cancelled;
  const auto tokens = RandomDna(257, 1);
  auto r = model->Forward(tokens, options);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_NE(r.status().message().find("before block 0 of"), std::string::npos) << r.status();

  // An unset flag changes nothing: same log-probs as a forward without one.
  cancelled = false;
  auto with_flag = model->Forward(tokens, options);
  auto without = model->Forward(tokens, ForwardOptions{});
  ASSERT_TRUE(with_flag.ok() && without.ok());
  EXPECT_EQ(with_flag->log_probs, without->log_probs);
}

// The HuggingFace families check the same flag before each of their layers.
TEST(Cancel, HfFamiliesStopAtTheirFirstLayer) {
  for (const char* name : {"l_eden_a", "m_hybrid_a"}) {
    auto dir = testing::GoldenCaseDir(name);
    if (!dir) GTEST_SKIP() << "golden case " << name << " not available";
    LoadOptions load;
    load.checkpoint = *dir;
    auto model = LoadModel(load);
    ASSERT_TRUE(model.ok()) << name << ": " << model.status();
    std::atomic<bool> cancelled{true};
    ForwardOptions options;
    options.cancelled = &cancelled;
    auto r = (*model)->Forward(RandomDna(33, 3), options);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kCancelled) << name << ": " << r.status();
    EXPECT_NE(r.status().message().find("before block 0 of"), std::string::npos) << r.status();
  }
}

// A record long enough that one forward takes ~0.4 s or more on this machine, and that time.
struct SlowRecord {
  std::vector<int32_t> tokens;
  double forward_s = 0;
};
SlowRecord GrowUntilSlow(Model& model) {
  SlowRecord r;
  for (int64_t n = 4096;; n *= 2) {
    r.tokens = RandomDna(n, 2);
    const auto t0 = Clock::now();
    EXPECT_TRUE(model.Forward(r.tokens, ForwardOptions{}).ok());
    r.forward_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r.forward_s > 0.4 || n >= (1 << 18)) return r;
  }
}

// Sets `flag` a quarter into the forward from another thread; returns when it was set.
std::thread SetLater(std::atomic<bool>& flag, double after_s, Clock::time_point& set_at) {
  return std::thread([&flag, after_s, &set_at] {
    std::this_thread::sleep_for(std::chrono::duration<double>(after_s));
    set_at = Clock::now();
    flag = true;
  });
}

// The call must come back CANCELLED naming a block after the first, instead of finishing.
TEST(Cancel, FlagSetDuringForwardStopsBetweenBlocks) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  const SlowRecord slow = GrowUntilSlow(*model);
  std::atomic<bool> cancelled{false};
  ForwardOptions options;
  options.cancelled = &cancelled;
  Clock::time_point set_at;
  std::thread canceller = SetLater(cancelled, slow.forward_s / 4, set_at);
  auto r = model->Forward(slow.tokens, options);
  const auto returned_at = Clock::now();
  canceller.join();
  ASSERT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(r.status().message().find("before block 0 of"), std::string::npos) << r.status();
  const double latency_ms = std::chrono::duration<double, std::milli>(returned_at - set_at).count();
  std::printf("[cancel] %d blocks, %zu tokens, forward %.0f ms, cancel latency %.1f ms (%s)\n",
              model->config().num_layers, slow.tokens.size(), slow.forward_s * 1e3, latency_ms,
              std::string(r.status().message()).c_str());
}

// Through the Predictor: the backend, not only the predictor's own checks around the forward,
// stops the record (its message names the block).
TEST(Cancel, PredictorStopsInsideTheForward) {
  auto model = LoadDemo();
  ASSERT_NE(model, nullptr);
  const SlowRecord slow = GrowUntilSlow(*model);
  const std::string sequence(slow.tokens.begin(), slow.tokens.end());
  Predictor predictor(*model);
  std::atomic<bool> cancelled{false};
  Clock::time_point set_at;
  std::thread canceller = SetLater(cancelled, slow.forward_s / 4, set_at);
  auto r = predictor.ScoreRecord("slow", sequence, ScoreOptions{}, &cancelled);
  canceller.join();
  ASSERT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_NE(r.status().message().find("before block"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace evo2
