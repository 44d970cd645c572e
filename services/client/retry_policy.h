// When and how the client calls an RPC again. An API process can die between storing a job and
// answering (the client then sees UNAVAILABLE, or DEADLINE_EXCEEDED when it stops waiting);
// retrying is only safe because SubmitJob always carries an idempotency key, so a retry of a
// stored job is answered with that job instead of creating a second one.
#pragma once

#include <functional>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace evo2::client {

struct RetryPolicy {
  int max_attempts = 1;  // 1 = a single try, no retry
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(5);
  // No attempt starts after this much time since the first one.
  absl::Duration max_total = absl::Seconds(120);
  // Deadline of each unary attempt; zero = none.
  absl::Duration attempt_timeout = absl::ZeroDuration();
  // Called before each wait (the failed attempt's status, the next attempt's number, the wait).
  std::function<void(const absl::Status&, int, absl::Duration)> on_retry;
};

// Wait before attempt `next_attempt` (2, 3, ...): half of min(max, initial * 2^(n-2)) plus a
// uniformly random part up to the other half, so clients that failed together spread out.
absl::Duration BackoffBeforeAttempt(const RetryPolicy& policy, int next_attempt,
                                    std::mt19937_64& rng);

// Runs `attempt` until it returns a status that is not retryable, attempts or time run out.
// UNAVAILABLE is retried; DEADLINE_EXCEEDED only when `retry_deadline_exceeded` (calls that are
// safe to repeat even when the first one may have taken effect: reads, keyed submits).
absl::Status RunWithRetry(const RetryPolicy& policy, bool retry_deadline_exceeded,
                          const std::function<absl::Status()>& attempt);

}  // namespace evo2::client
