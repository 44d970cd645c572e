#include "parallel/host_rendezvous.h"

#include "absl/strings/str_cat.h"

namespace evo2::parallel {

HostRendezvous::HostRendezvous(int size, std::chrono::milliseconds timeout)
    : size_(size), timeout_(timeout) {}

absl::Status HostRendezvous::Arrive(int rank, absl::string_view op) {
  std::unique_lock lock(mu_);
  if (!failure_.ok()) return FailedLocked(rank, op);
  const uint64_t gen = generation_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return absl::OkStatus();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (generation_ == gen && failure_.ok()) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && generation_ == gen &&
        failure_.ok()) {
      failure_ = absl::DeadlineExceededError(
          absl::StrCat("rank ", rank, " of ", size_, " waited ", timeout_.count(), " ms in ", op,
                       " and ", size_ - arrived_, " rank(s) never arrived"));
      cv_.notify_all();
    }
  }
  // A completed generation wins over a failure that came later: every rank then goes on to the
  // unabandonable arrival, which completes.
  if (generation_ != gen) return absl::OkStatus();
  // Still counted in arrived_, harmlessly: no Arrive() completes once the group has failed.
  return FailedLocked(rank, op);
}

void HostRendezvous::ArriveUnabandonable() {
  std::unique_lock lock(mu_);
  const uint64_t gen = generation_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return generation_ != gen; });
}

void HostRendezvous::Abort(const absl::Status& reason) {
  std::lock_guard lock(mu_);
  if (!failure_.ok()) return;
  failure_ = reason.ok() ? absl::AbortedError("aborted") : reason;
  // Ranks waiting in Arrive() give up; ranks in ArriveUnabandonable() are unaffected.
  cv_.notify_all();
}

absl::Status HostRendezvous::Failure(int rank, absl::string_view op) const {
  std::lock_guard lock(mu_);
  return failure_.ok() ? absl::OkStatus() : FailedLocked(rank, op);
}

absl::Status HostRendezvous::FailedLocked(int rank, absl::string_view op) const {
  return absl::Status(failure_.code(), absl::StrCat("rank ", rank, ", ", op,
                                                    ": the group failed: ", failure_.message()));
}

}  // namespace evo2::parallel
