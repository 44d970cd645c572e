// The client's retry policy on its own: which codes are retried, the attempt and time bounds,
// and that backoff doubles up to its cap with jitter inside [cap/2, cap].
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "retry_policy.h"

namespace evo2::client {
namespace {

RetryPolicy Fast(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff = absl::Milliseconds(1);
  p.max_backoff = absl::Milliseconds(4);
  return p;
}

TEST(ServiceClientRetryUnitTest, BackoffDoublesToItsCapWithJitterInTheUpperHalf) {
  RetryPolicy p;
  p.initial_backoff = absl::Milliseconds(100);
  p.max_backoff = absl::Milliseconds(1000);
  std::mt19937_64 rng(7);
  // Caps per attempt 2, 3, 4, 5, 6, 7: 100, 200, 400, 800, 1000, 1000 ms.
  const int caps_ms[] = {100, 200, 400, 800, 1000, 1000};
  for (int i = 0; i < 6; ++i) {
    for (int k = 0; k < 200; ++k) {
      const absl::Duration d = BackoffBeforeAttempt(p, i + 2, rng);
      EXPECT_GE(d, absl::Milliseconds(caps_ms[i]) / 2) << "attempt " << i + 2;
      EXPECT_LE(d, absl::Milliseconds(caps_ms[i])) << "attempt " << i + 2;
    }
  }
  // Jitter: two clients that failed together do not retry in lockstep.
  std::set<int64_t> distinct;
  for (int k = 0; k < 20; ++k) {
    distinct.insert(absl::ToInt64Microseconds(BackoffBeforeAttempt(p, 3, rng)));
  }
  EXPECT_GT(distinct.size(), 10u);
}

TEST(ServiceClientRetryUnitTest, RetriesUnavailableUpToMaxAttempts) {
  int calls = 0;
  absl::Status s = RunWithRetry(Fast(4), false, [&] {
    ++calls;
    return absl::UnavailableError("down");
  });
  EXPECT_TRUE(absl::IsUnavailable(s));
  EXPECT_EQ(calls, 4);

  calls = 0;
  s = RunWithRetry(Fast(4), false,
                   [&] { return ++calls < 3 ? absl::UnavailableError("down") : absl::OkStatus(); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
}

TEST(ServiceClientRetryUnitTest, DeadlineExceededIsRetriedOnlyWhenSafe) {
  int calls = 0;
  auto timeout = [&] {
    ++calls;
    return absl::DeadlineExceededError("slow");
  };
  EXPECT_TRUE(absl::IsDeadlineExceeded(RunWithRetry(Fast(5), false, timeout)));
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_TRUE(absl::IsDeadlineExceeded(RunWithRetry(Fast(5), true, timeout)));
  EXPECT_EQ(calls, 5);
}

TEST(ServiceClientRetryUnitTest, OtherErrorsAreNotRetried) {
  for (const absl::Status& err :
       {absl::InvalidArgumentError("bad"), absl::AlreadyExistsError("key"),
        absl::ResourceExhaustedError("quota"), absl::UnauthenticatedError("key")}) {
    int calls = 0;
    EXPECT_EQ(RunWithRetry(Fast(5), true,
                           [&] {
                             ++calls;
                             return err;
                           }),
              err);
    EXPECT_EQ(calls, 1) << err;
  }
}

TEST(ServiceClientRetryUnitTest, StopsWhenTheTimeBudgetIsSpent) {
  RetryPolicy p = Fast(1000);
  p.initial_backoff = absl::Milliseconds(20);
  p.max_backoff = absl::Milliseconds(20);
  p.max_total = absl::Milliseconds(100);
  int calls = 0, announced = 0;
  p.on_retry = [&](const absl::Status&, int next, absl::Duration) { announced = next; };
  EXPECT_TRUE(absl::IsUnavailable(RunWithRetry(p, false, [&] {
    ++calls;
    return absl::UnavailableError("down");
  })));
  // Waits of at least 10 ms within 100 ms: at most 11 tries (fewer when sleeps overshoot on a
  // busy machine, but it did retry).
  EXPECT_GE(calls, 2);
  EXPECT_LE(calls, 11);
  EXPECT_EQ(announced, calls);
}

}  // namespace
}  // namespace evo2::client
