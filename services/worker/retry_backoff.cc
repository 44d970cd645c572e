#include "retry_backoff.h"

#include <algorithm>
#include <cmath>

namespace evo2::svc {

absl::Duration RetryBackoff::Delay(int failed_attempt, double u) const {
  const double exponent = std::max(0, failed_attempt - 1);
  const double base_s = absl::ToDoubleSeconds(base);
  const double capped_s =
      std::min(absl::ToDoubleSeconds(max), base_s * std::pow(std::max(1.0, factor), exponent));
  const double jittered_s =
      capped_s * (1 + std::clamp(jitter, 0.0, 1.0) * std::clamp(u, -1.0, 1.0));
  return absl::Seconds(std::max(0.0, jittered_s));
}

absl::Duration RetryBackoff::Delay(int failed_attempt, std::mt19937_64& rng) const {
  return Delay(failed_attempt, std::uniform_real_distribution<double>(-1.0, 1.0)(rng));
}

}  // namespace evo2::svc
