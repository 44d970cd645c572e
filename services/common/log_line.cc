#include "log_line.h"

#include <cstdio>

#include "absl/time/clock.h"

namespace evo2::svc {

std::string Iso8601Millis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

LogLine::LogLine() { out_ << Iso8601Millis(absl::Now()) << ' '; }

LogLine::~LogLine() {
  out_ << '\n';
  const std::string line = out_.str();
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace evo2::svc
