// Pure pieces of the service's failure handling: the readiness hysteresis, the retry backoff
// formula, the log timestamp and the Redis retry allow-list.
#include <random>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "job_scripts.h"
#include "log_line.h"
#include "redis_client.h"
#include "redis_health.h"
#include "retry_backoff.h"

namespace evo2::svc {
namespace {

TEST(ServiceReadiness, GoesDownAfterNFailuresAndUpAfterMSuccesses) {
  ReachabilityHysteresis h(/*failures_to_down=*/3, /*successes_to_up=*/2);
  EXPECT_TRUE(h.up());
  EXPECT_FALSE(h.Record(false));
  EXPECT_FALSE(h.Record(false));
  EXPECT_FALSE(h.Record(true));  // a good probe resets the streak
  EXPECT_FALSE(h.Record(false));
  EXPECT_FALSE(h.Record(false));
  EXPECT_TRUE(h.up());
  EXPECT_TRUE(h.Record(false));  // third failure in a row
  EXPECT_FALSE(h.up());
  EXPECT_FALSE(h.Record(true));
  EXPECT_FALSE(h.Record(false));  // a lucky PING on a flapping Redis does not count
  EXPECT_FALSE(h.Record(true));
  EXPECT_FALSE(h.up());
  EXPECT_TRUE(h.Record(true));
  EXPECT_TRUE(h.up());
}

TEST(ServiceRetryBackoff, GrowsByTheFactorUpToTheCapWithinTheJitter) {
  RetryBackoff b;  // 1 s, ×4, cap 5 min, ±20 %
  EXPECT_EQ(b.Delay(1, 0.0), absl::Seconds(1));
  EXPECT_EQ(b.Delay(2, 0.0), absl::Seconds(4));
  EXPECT_EQ(b.Delay(3, 0.0), absl::Seconds(16));
  EXPECT_EQ(b.Delay(10, 0.0), absl::Minutes(5));
  // ±20 % of 4 s; 1e-9: double rounding of 0.8 and 1.2.
  EXPECT_NEAR(absl::ToDoubleSeconds(b.Delay(2, -1.0)), 3.2, 1e-9);
  EXPECT_NEAR(absl::ToDoubleSeconds(b.Delay(2, 1.0)), 4.8, 1e-9);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration d = b.Delay(3, rng);
    EXPECT_GE(d, absl::Seconds(12.8));
    EXPECT_LE(d, absl::Seconds(19.2));
  }
}

TEST(ServiceLogLine, TimestampIsIso8601UtcWithMilliseconds) {
  const absl::Time t = absl::FromUnixMillis(1767323045678);  // 2026-01-02T03:04:05.678Z
  EXPECT_EQ(Iso8601Millis(t), "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(Iso8601Millis(absl::FromUnixMillis(1767323045000)), "2026-01-02T03:04:05.000Z");
}

TEST(ServiceRedisRetry, OnlyReadsAndIdempotentScriptsAreResent) {
  for (const char* read : {"GET", "hgetall", "XRANGE", "XREAD", "ZREVRANGEBYSCORE", "PING"}) {
    EXPECT_TRUE(IsRetrySafeCommand(read)) << read;
  }
  for (const char* write : {"XADD", "XREADGROUP", "XAUTOCLAIM", "EVALSHA", "HSET", "SET"}) {
    EXPECT_FALSE(IsRetrySafeCommand(write)) << write;
  }
  EXPECT_TRUE(scripts::Heartbeat().idempotent());
  EXPECT_TRUE(scripts::PutResult().idempotent());
  EXPECT_TRUE(scripts::Cancel().idempotent());
  EXPECT_TRUE(scripts::PromoteRetries().idempotent());
  EXPECT_FALSE(scripts::Submit().idempotent());
  EXPECT_FALSE(scripts::Claim().idempotent());
  EXPECT_FALSE(scripts::Finish().idempotent());
  EXPECT_FALSE(scripts::FailAttempt().idempotent());
  EXPECT_FALSE(scripts::Release().idempotent());
}

}  // namespace
}  // namespace evo2::svc
