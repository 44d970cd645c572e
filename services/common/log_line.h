// One log line on stderr, prefixed with an ISO-8601 UTC timestamp with milliseconds
// ("2026-01-02T03:04:05.678Z "), so that a person on call can line up a worker's log with Redis'
// and the API's. The line is written with one call when the object dies, so lines of different
// threads never interleave.
//
//   LogLine() << "evo2-worker " << id << ": claimed " << job_key;
#pragma once

#include <sstream>
#include <string>

#include "absl/time/time.h"

namespace evo2::svc {

// "2026-01-02T03:04:05.678Z"
std::string Iso8601Millis(absl::Time t);

class LogLine {
 public:
  LogLine();
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

 private:
  std::ostringstream out_;
};

}  // namespace evo2::svc
