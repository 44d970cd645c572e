#include "retry_policy.h"

#include <algorithm>
#include <thread>

namespace evo2::client {

absl::Duration BackoffBeforeAttempt(const RetryPolicy& policy, int next_attempt,
                                    std::mt19937_64& rng) {
  absl::Duration cap = policy.initial_backoff;
  for (int i = 2; i < next_attempt && cap < policy.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, policy.max_backoff);
  std::uniform_real_distribution<double> jitter(0.0, 0.5);
  return cap / 2 + cap * jitter(rng);
}

absl::Status RunWithRetry(const RetryPolicy& policy, bool retry_deadline_exceeded,
                          const std::function<absl::Status()>& attempt) {
  std::mt19937_64 rng{std::random_device{}()};
  const absl::Time give_up = absl::Now() + policy.max_total;
  for (int n = 1;; ++n) {
    absl::Status s = attempt();
    const bool retryable =
        absl::IsUnavailable(s) || (retry_deadline_exceeded && absl::IsDeadlineExceeded(s));
    if (!retryable || n >= policy.max_attempts) return s;
    const absl::Duration wait = BackoffBeforeAttempt(policy, n + 1, rng);
    if (absl::Now() + wait > give_up) return s;
    if (policy.on_retry) policy.on_retry(s, n + 1, wait);
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(wait));
  }
}

}  // namespace evo2::client
