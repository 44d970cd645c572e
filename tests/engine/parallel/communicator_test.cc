// The in-process communicator (evo2/communicator.h): collectives give the same answer on every
// rank, point-to-point exchanges arrive, and a failing or vanished rank makes the others return
// an error quickly instead of hanging.
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "parallel/in_process_communicator.h"
#include "support/expect_contains.h"

namespace evo2::parallel {
namespace {

using Comms = std::vector<std::unique_ptr<Communicator>>;

// Runs fn(rank, comm) on one thread per rank; returns each rank's status.
std::vector<absl::Status> RunRanks(Comms& comms,
                                   const std::function<absl::Status(int, Communicator&)>& fn) {
  std::vector<absl::Status> status(comms.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < comms.size(); ++r) {
    threads.emplace_back([&, r] { status[r] = fn(static_cast<int>(r), *comms[r]); });
  }
  for (auto& t : threads) t.join();
  return status;
}

TEST(InProcessCommunicator, AllReduceSumAndMaxAgreeOnEveryRank) {
  for (int n : {1, 2, 3, 5}) {
    auto comms = MakeInProcessCommunicators(n);
    std::vector<std::vector<float>> f(static_cast<size_t>(n));
    std::vector<std::vector<double>> d(static_cast<size_t>(n));
    auto status = RunRanks(comms, [&](int r, Communicator& c) -> absl::Status {
      EXPECT_EQ(c.rank(), r);
      EXPECT_EQ(c.size(), n);
      f[r] = {1.0f * r, 0.5f, -2.0f * r};
      d[r] = {double(r), double(-r)};
      // Several rounds in a row: the rendezvous must be reusable.
      for (int round = 0; round < 3; ++round) {
        std::vector<float> x = {1.0f * r, 0.5f, -2.0f * r};
        absl::Status s = c.AllReduce(std::span<float>(x), ReduceOp::kSum);
        if (!s.ok()) return s;
        f[r] = x;
      }
      return c.AllReduce(std::span<double>(d[r]), ReduceOp::kMax);
    });
    const float sum_r = n * (n - 1) / 2.0f;
    for (int r = 0; r < n; ++r) {
      ASSERT_TRUE(status[r].ok()) << status[r];
      EXPECT_EQ(f[r], (std::vector<float>{sum_r, 0.5f * n, -2 * sum_r})) << "rank " << r;
      EXPECT_EQ(d[r], (std::vector<double>{double(n - 1), 0.0})) << "rank " << r;
    }
  }
}

TEST(InProcessCommunicator, AllGatherConcatenatesInRankOrder) {
  auto comms = MakeInProcessCommunicators(3);
  std::vector<std::vector<float>> got(3);
  auto status = RunRanks(comms, [&](int r, Communicator& c) {
    std::vector<float> mine = {10.0f * r, 10.0f * r + 1};
    got[r].resize(6);
    return c.AllGather(std::span<const float>(mine), std::span<float>(got[r]));
  });
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE(status[r].ok()) << status[r];
    EXPECT_EQ(got[r], (std::vector<float>{0, 1, 10, 11, 20, 21}));
  }
}

TEST(InProcessCommunicator, ExchangeDeliversByPeerAndTagIncludingToSelf) {
  // Ring: rank r sends [r, tag] to r+1 and a copy to itself; receives from r−1 and itself.
  const int n = 4;
  auto comms = MakeInProcessCommunicators(n);
  std::vector<std::vector<float>> from_prev(n, std::vector<float>(2)),
      from_self(n, std::vector<float>(2));
  auto status = RunRanks(comms, [&](int r, Communicator& c) {
    const std::vector<float> payload = {float(r), 7.0f};
    const std::vector<float> self_payload = {float(r), 9.0f};
    std::vector<SendSpec> sends = {{(r + 1) % n, 7, payload}, {r, 9, self_payload}};
    std::vector<RecvSpec> recvs = {{(r + n - 1) % n, 7, from_prev[r]}, {r, 9, from_self[r]}};
    return c.Exchange(sends, recvs);
  });
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(status[r].ok()) << status[r];
    EXPECT_EQ(from_prev[r], (std::vector<float>{float((r + n - 1) % n), 7.0f}));
    EXPECT_EQ(from_self[r], (std::vector<float>{float(r), 9.0f}));
  }
}

TEST(InProcessCommunicator, ExchangeOfAMessageNobodySentFailsEveryRank) {
  auto comms = MakeInProcessCommunicators(2);
  std::vector<float> buf(3);
  auto status = RunRanks(comms, [&](int r, Communicator& c) -> absl::Status {
    if (r == 0) {
      std::vector<RecvSpec> recvs = {{1, 42, buf}};
      return c.Exchange({}, recvs);
    }
    absl::Status s = c.Exchange({}, {});
    if (!s.ok()) return s;
    return c.Barrier();  // rank 0's error has failed the group by now
  });
  EXPECT_FALSE(status[0].ok());
  EVO2_EXPECT_CONTAINS(status[0].message(), "tag 42 from rank 1 but none was sent");
  EXPECT_FALSE(status[1].ok());
}

TEST(InProcessCommunicator, MismatchedCollectivesAreAnErrorNotAnOverrun) {
  auto comms = MakeInProcessCommunicators(2);
  auto status = RunRanks(comms, [&](int r, Communicator& c) {
    std::vector<float> x(static_cast<size_t>(r == 0 ? 4 : 8), 1.0f);
    return c.AllReduce(std::span<float>(x), ReduceOp::kSum);
  });
  for (const auto& s : status) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EVO2_EXPECT_CONTAINS(s.message(), "collective mismatch");
  }
}

TEST(InProcessCommunicator, AFailingRankReleasesTheOthersAtOnce) {
  // Rank 2 fails before its first collective and aborts; ranks 0, 1 are blocked in an
  // all-reduce that can never complete. The timeout is long (a minute), so returning quickly
  // proves the abort, not the timeout, released them.
  auto comms = MakeInProcessCommunicators(3, std::chrono::minutes(1));
  const auto t0 = std::chrono::steady_clock::now();
  auto status = RunRanks(comms, [&](int r, Communicator& c) -> absl::Status {
    if (r == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the others block
      const absl::Status own = absl::InvalidArgumentError("rank 2: bad record");
      c.Abort(own);
      return own;
    }
    std::vector<float> x(16, 1.0f);
    return c.AllReduce(std::span<float>(x), ReduceOp::kSum);
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 10.0);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kInvalidArgument) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(), "the group failed: rank 2: bad record");
  }
  // The group stays failed: a later collective returns at once.
  std::vector<float> y(1);
  EXPECT_FALSE(comms[0]->AllReduce(std::span<float>(y), ReduceOp::kSum).ok());
}

TEST(InProcessCommunicator, ARankThatNeverArrivesTimesOut) {
  auto comms = MakeInProcessCommunicators(3, std::chrono::milliseconds(200));
  auto status = RunRanks(comms, [&](int r, Communicator& c) -> absl::Status {
    if (r == 1) return absl::OkStatus();  // leaves without calling Barrier or Abort
    return c.Barrier();
  });
  for (int r : {0, 2}) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kDeadlineExceeded) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(), "never arrived");
  }
}

}  // namespace
}  // namespace evo2::parallel
