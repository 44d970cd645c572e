// The host rendezvous both in-process communicators are built on (parallel/host_rendezvous.h):
// reusable generations, the abandonable first arrival (abort, timeout) and the second arrival
// that always completes. Host threads only: runs in CI without a GPU.
#include "parallel/host_rendezvous.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/expect_contains.h"

namespace evo2::parallel {
namespace {

using Clock = std::chrono::steady_clock;

template <typename Fn>
std::vector<absl::Status> OnThreads(int n, Fn fn) {
  std::vector<absl::Status> status(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&, r] { status[r] = fn(r); });
  for (auto& t : threads) t.join();
  return status;
}

TEST(HostRendezvous, EveryGenerationWaitsForAllRanksAndPublishesTheirWrites) {
  for (int n : {1, 2, 5}) {
    HostRendezvous rv(n, std::chrono::seconds(30));
    std::vector<int> slots(static_cast<size_t>(n), -1);
    std::atomic<int> wrong{0};
    const auto status = OnThreads(n, [&](int r) -> absl::Status {
      for (int round = 0; round < 50; ++round) {
        slots[r] = round * 100 + r;  // published by arrival 1
        if (absl::Status s = rv.Arrive(r, "Test"); !s.ok()) return s;
        for (int p = 0; p < n; ++p) wrong += slots[p] != round * 100 + p;
        rv.ArriveUnabandonable();  // nobody reads the slots past this point
      }
      return absl::OkStatus();
    });
    for (const auto& s : status) EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(wrong.load(), 0) << n << " ranks";
  }
}

TEST(HostRendezvous, AbortReleasesWaitingRanksWithTheFirstReason) {
  HostRendezvous rv(3, std::chrono::seconds(60));
  const auto start = Clock::now();
  const auto status = OnThreads(3, [&](int r) -> absl::Status {
    if (r == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      rv.Abort(absl::UnavailableError("device 3 fell off the bus"));
      rv.Abort(absl::InternalError("a later reason"));  // ignored
      return absl::OkStatus();
    }
    return rv.Arrive(r, "AllReduce");
  });
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0);
  for (int r = 1; r < 3; ++r) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kUnavailable) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(),
                         absl::StrCat("rank ", r, ", AllReduce: the group failed: device 3 fell"));
  }
  // Failed for good: a later arrival returns at once, and Failure() reports it.
  EXPECT_EQ(rv.Arrive(0, "Barrier").code(), absl::StatusCode::kUnavailable);
  EVO2_EXPECT_CONTAINS(rv.Failure(2, "Check").message(), "rank 2, Check: the group failed");
}

TEST(HostRendezvous, AnOkAbortReasonBecomesAborted) {
  HostRendezvous rv(2, std::chrono::seconds(60));
  EXPECT_TRUE(rv.Failure(0, "Check").ok());
  rv.Abort(absl::OkStatus());
  EXPECT_EQ(rv.Failure(0, "Check").code(), absl::StatusCode::kAborted);
}

TEST(HostRendezvous, AMissingRankIsADeadlineNamingTheWaiterWithinTheTimeout) {
  HostRendezvous rv(3, std::chrono::milliseconds(200));
  const auto start = Clock::now();
  const auto status = OnThreads(3, [&](int r) -> absl::Status {
    if (r == 2) return absl::OkStatus();  // never arrives
    return rv.Arrive(r, "Exchange");
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(seconds, 0.19);
  EXPECT_LT(seconds, 3.0);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kDeadlineExceeded) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(),
                         "waited 200 ms in Exchange and 1 rank(s) never arrived");
  }
}

TEST(HostRendezvous, TheSecondArrivalCompletesEvenAfterAnAbort) {
  // All ranks passed arrival 1; one aborts before arrival 2: the others still get through it
  // (they may be reading posted buffers and must not be told to stop half-way).
  HostRendezvous rv(3, std::chrono::seconds(60));
  const auto status = OnThreads(3, [&](int r) -> absl::Status {
    if (absl::Status s = rv.Arrive(r, "AllGather"); !s.ok()) return s;
    if (r == 1) rv.Abort(absl::InternalError("rank 1 found a mismatch"));
    if (r == 2) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    rv.ArriveUnabandonable();
    return rv.Failure(r, "AllGather");
  });
  for (const auto& s : status) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EVO2_EXPECT_CONTAINS(s.message(), "rank 1 found a mismatch");
  }
}

}  // namespace
}  // namespace evo2::parallel
