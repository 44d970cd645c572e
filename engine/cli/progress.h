// Progress of a long run on stderr (`evo2 predict`: records; `evo2 score-variants`: variants):
// items and tokens done, items/s, tokens/s, ETA (by tokens when the total is known, else by
// items). At most one line per second, and nothing for runs that finish within the first second.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace evo2::cli {

class ProgressReporter {
 public:
  // `command` starts every line ("evo2 predict"); `items` names what is counted ("records").
  ProgressReporter(std::ostream& out, int64_t total_records, int64_t total_tokens, bool enabled,
                   std::string command = "evo2 predict", std::string items = "records");
  void Update(int64_t records_done, int64_t tokens_done);
  // Final summary line (always, unless disabled).
  void Done(int64_t records_done, int64_t tokens_done);

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  int64_t total_records_;
  int64_t total_tokens_;
  bool enabled_;
  std::string command_;
  std::string items_;
  Clock::time_point start_;
  Clock::time_point last_print_;
};

}  // namespace evo2::cli
