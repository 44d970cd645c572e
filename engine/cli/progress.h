// Progress of a long `evo2 predict` run on stderr: records and tokens done, tokens/s, ETA.
// At most one line per second, and nothing for runs that finish within the first second.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>

namespace evo2::cli {

class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, int64_t total_records, int64_t total_tokens, bool enabled);
  void Update(int64_t records_done, int64_t tokens_done);
  // Final summary line (always, unless disabled).
  void Done(int64_t records_done, int64_t tokens_done);

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  int64_t total_records_;
  int64_t total_tokens_;
  bool enabled_;
  Clock::time_point start_;
  Clock::time_point last_print_;
};

}  // namespace evo2::cli
