// How long a job waits before its next attempt after a retryable failure: exponential backoff
// with jitter, so that a failure shared by many jobs (a flaky node, an overloaded dependency)
// does not come back as a synchronized burst of retries.
//
//   delay(n) = min(max, base · factor^(n−1)) · (1 + jitter · u),  u uniform in [−1, 1]
//
// where n is the attempt that just failed (1 for the first).
#pragma once

#include <random>

#include "absl/time/time.h"

namespace evo2::svc {

struct RetryBackoff {
  absl::Duration base = absl::Seconds(1);
  double factor = 4;
  absl::Duration max = absl::Minutes(5);
  double jitter = 0.2;  // ±20 %

  // delay(failed_attempt) for a given u in [−1, 1] (clamped).
  absl::Duration Delay(int failed_attempt, double u) const;
  // delay(failed_attempt) with u drawn from `rng`.
  absl::Duration Delay(int failed_attempt, std::mt19937_64& rng) const;
};

}  // namespace evo2::svc
