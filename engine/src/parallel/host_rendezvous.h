// The meeting point of the ranks of an in-process engine group (host threads of one process):
// the synchronisation that both in-process communicators (the host one,
// parallel/in_process_communicator.h, and the device one, cuda/in_process_device_communicator.h)
// build their collectives from, with the failure contract of evo2/communicator.h.
//
// A collective is two arrivals of every rank:
//   1. Arrive(): each rank has published what it brings (pointers, events) and waits for all.
//      This is the only wait that can be abandoned: Abort() or the timeout fails the group and
//      every rank waiting in, or later entering, Arrive() returns the failure.
//   2. ArriveUnabandonable(): after all ranks passed (1) they only copy or enqueue work, so this
//      wait always completes; it tells each rank that the others are done with what (1)
//      published (reading buffers, enqueuing stream waits on events).
// Both arrivals are generations of one counter, so the object is reusable collective after
// collective. Everything a rank writes before an arrival is visible to every rank after that
// arrival completes (the mutex orders it); the caller keeps the per-rank slots it publishes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace evo2::parallel {

class HostRendezvous {
 public:
  // A rank waiting longer than `timeout` in Arrive() fails the group with DEADLINE_EXCEEDED
  // naming the rank, the collective (`op`) and how many ranks never arrived.
  HostRendezvous(int size, std::chrono::milliseconds timeout);

  int size() const { return size_; }

  // Arrival (1): waits for all ranks. OK once every rank arrived; the group's failure (an error
  // naming `rank` and `op`) when it failed first or fails while waiting.
  absl::Status Arrive(int rank, absl::string_view op);

  // Arrival (2): waits for all ranks; never abandoned (see above).
  void ArriveUnabandonable();

  // Fails the group with `reason` (an OK reason becomes ABORTED "aborted"); the first reason is
  // kept. Never blocks on other ranks.
  void Abort(const absl::Status& reason);

  // OK, or the group's failure as seen by `rank` (for a communicator's Check()).
  absl::Status Failure(int rank, absl::string_view op) const;

 private:
  absl::Status FailedLocked(int rank, absl::string_view op) const;

  const int size_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  absl::Status failure_;
};

}  // namespace evo2::parallel
