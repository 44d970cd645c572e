// Ctrl-C / SIGTERM handling for the engine's long-running commands (predict, score-variants):
// the first signal sets a flag that the run checks between records and the backends check
// between blocks, so the command ends cleanly and leaves no output files; a second signal kills
// the process the default way. One object per run; the previous handlers come back after it.
#pragma once

#include <atomic>

namespace evo2::cli {

class CancelOnSignal {
 public:
  CancelOnSignal();
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;
  // Set once SIGINT or SIGTERM arrived.
  const std::atomic<bool>& flag() const;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

}  // namespace evo2::cli
