// The API's in-memory view of the workers' record capacities (services/api/record_capacity_cache.h)
// against a real redis-server, in process (so TSan sees the refresh thread): advertisements
// appear within a refresh and leave when they expire; the constructor reads once; while Redis
// does not answer (SIGSTOP) the last view is kept for max_stale and then dropped, the outage is
// logged once, and Stop() still returns promptly; readers on other threads race the refreshes.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "record_capacity_cache.h"
#include "record_capacity_registry.h"
#include "support/redis_server.h"

namespace evo2::svc {
namespace {

using evo2::testing::RedisServer;
using Clock = std::chrono::steady_clock;

// Polls `pred` every 10 ms until it holds or `timeout` passes: tests wait for the refresh thread
// with a bound, never with a blind sleep.
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// Occurrences of `part` in `text`.
int Count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

class RecordCapacityCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RedisServer::Start();
    if (absl::IsFailedPrecondition(r.status())) GTEST_SKIP() << r.status();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    options_.port = redis_->port();
    auto c = RedisConnection::Connect(options_);
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = std::move(*c);
  }

  void TearDown() override {
    if (redis_ != nullptr && redis_->pid() > 0) ::kill(redis_->pid(), SIGCONT);
  }

  void Advertise(const std::string& model, const std::string& worker, int64_t tokens,
                 absl::Duration ttl) {
    ASSERT_TRUE(AdvertiseRecordCapacity(*conn_, keys_, model,
                                        RecordCapacity{worker, tokens, tokens / 2}, ttl)
                    .ok());
  }

  std::unique_ptr<RecordCapacityCache> Cache(absl::Duration refresh, absl::Duration max_stale,
                                             RedisOptions redis) {
    RecordCapacityCacheOptions o;
    o.refresh_interval = refresh;
    o.max_stale = max_stale;
    return std::make_unique<RecordCapacityCache>(std::move(redis), keys_,
                                                 std::vector<std::string>{"m", "other"}, o);
  }
  std::unique_ptr<RecordCapacityCache> Cache(absl::Duration refresh, absl::Duration max_stale) {
    return Cache(refresh, max_stale, options_);
  }

  std::unique_ptr<RedisServer> redis_;
  RedisOptions options_;
  std::unique_ptr<RedisConnection> conn_;
  JobKeys keys_{"t:"};
};

TEST_F(RecordCapacityCacheTest, TheConstructorReadsTheAdvertisementsOnce) {
  Advertise("m", "w1", 300, absl::Seconds(60));
  Advertise("m", "w0", 200, absl::Seconds(60));
  // An hour between refreshes: only the constructor's read can have seen them.
  auto cache = Cache(absl::Hours(1), absl::Hours(2));
  const std::vector<RecordCapacity> live = cache->Live("m");
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].worker_id, "w0");  // sorted by worker id
  EXPECT_EQ(live[0].log_probs_tokens, 200);
  EXPECT_EQ(live[0].logits_tokens, 100);
  EXPECT_EQ(live[1].worker_id, "w1");
  EXPECT_TRUE(cache->Live("other").empty());
  EXPECT_TRUE(cache->Live("not-served").empty());
  cache->Stop();
  EXPECT_EQ(cache->Live("m").size(), 2u) << "a stopped cache answers from its last view";
}

TEST_F(RecordCapacityCacheTest, AnAdvertisementAppearsWithinARefreshAndLeavesWhenItExpires) {
  auto cache = Cache(absl::Milliseconds(50), absl::Seconds(30));
  EXPECT_TRUE(cache->Live("m").empty());
  Advertise("m", "w0", 212, absl::Milliseconds(400));
  ASSERT_TRUE(Eventually([&] { return cache->Live("m").size() == 1; }, std::chrono::seconds(5)));
  EXPECT_EQ(cache->Live("m")[0].log_probs_tokens, 212);
  EXPECT_TRUE(cache->Live("other").empty()) << "advertised under another model";
  // Not renewed (a killed worker): gone once the key expires, and dropped from the index.
  ASSERT_TRUE(Eventually([&] { return cache->Live("m").empty(); }, std::chrono::seconds(5)));
  ASSERT_TRUE(Eventually(
      [&] {
        auto n = conn_->Command({"SCARD", keys_.RecordCapacities("m")});
        return n.ok() && n->integer == 0;
      },
      std::chrono::seconds(5)));
  // A clean withdrawal leaves the view within a refresh too.
  Advertise("m", "w1", 99, absl::Seconds(60));
  ASSERT_TRUE(Eventually([&] { return cache->Live("m").size() == 1; }, std::chrono::seconds(5)));
  ASSERT_TRUE(WithdrawRecordCapacity(*conn_, keys_, "m", "w1").ok());
  EXPECT_TRUE(Eventually([&] { return cache->Live("m").empty(); }, std::chrono::seconds(5)));
}

TEST_F(RecordCapacityCacheTest, KeepsTheLastViewForMaxStaleWhileRedisIsPausedThenDropsIt) {
  Advertise("m", "w0", 212, absl::Seconds(120));
  // A refresh gives up on the paused Redis after 200 ms, so several fail within max_stale.
  RedisOptions quick = options_;
  quick.command_timeout = absl::Milliseconds(200);
  // max_stale well above the refresh interval and any scheduling delay of a loaded 2-core
  // machine (the view is checked right after the pause), well below the test's 20 s bounds.
  const auto max_stale = std::chrono::seconds(3);
  auto cache = Cache(absl::Milliseconds(50), absl::Seconds(3), quick);
  ASSERT_EQ(cache->Live("m").size(), 1u);

  ::testing::internal::CaptureStderr();
  ASSERT_EQ(::kill(redis_->pid(), SIGSTOP), 0);
  const auto paused_at = Clock::now();
  EXPECT_EQ(cache->Live("m").size(), 1u) << "the last view stays while Redis does not answer";
  ASSERT_TRUE(Eventually([&] { return cache->Live("m").empty(); }, std::chrono::seconds(20)));
  const auto dropped_after = Clock::now() - paused_at;
  // The view was at most one refresh old when Redis paused; it must not go before max_stale.
  EXPECT_GE(dropped_after, max_stale - std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(redis_->pid(), SIGCONT), 0);
  ASSERT_TRUE(Eventually([&] { return cache->Live("m").size() == 1; }, std::chrono::seconds(20)));
  cache->Stop();
  const std::string log = ::testing::internal::GetCapturedStderr();
  // About ten refreshes failed in those 3 s: the outage is one line, and so is the recovery.
  EXPECT_EQ(Count(log, "reading the workers' record capacities failed"), 1) << log;
  EXPECT_EQ(Count(log, "reading the workers' record capacities works again"), 1) << log;
}

TEST_F(RecordCapacityCacheTest, StopReturnsPromptlyWhileARefreshWaitsOnAPausedRedis) {
  auto cache = Cache(absl::Milliseconds(20), absl::Seconds(30));  // Redis' 10 s default timeout
  ::testing::internal::CaptureStderr();
  ASSERT_EQ(::kill(redis_->pid(), SIGSTOP), 0);
  // Five refresh intervals: by then a refresh has started and waits on the paused Redis. (No
  // condition to poll for: the waiting thread gives no sign until it fails.)
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto stop_at = Clock::now();
  cache->Stop();
  const auto took = Clock::now() - stop_at;
  ASSERT_EQ(::kill(redis_->pid(), SIGCONT), 0);
  (void)::testing::internal::GetCapturedStderr();
  // The cache caps its command timeout at 2 s (shutdown must not hang on Redis); 5 s leaves
  // room for a loaded machine and is still half of Redis' default 10 s.
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(RecordCapacityCacheTest, ReadersOnOtherThreadsRaceTheRefreshes) {
  auto cache = Cache(absl::Milliseconds(10), absl::Seconds(30));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        for (const RecordCapacity& c : cache->Live("m")) {
          if (c.log_probs_tokens <= 0 || c.worker_id.empty()) ++bad;
        }
        ++reads;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    Advertise("m", absl::StrCat("w", i % 3), 100 + i, absl::Seconds(60));
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  EXPECT_TRUE(Eventually([&] { return cache->Live("m").size() == 3; }, std::chrono::seconds(5)));
  stop = true;
  for (std::thread& r : readers) r.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace evo2::svc
