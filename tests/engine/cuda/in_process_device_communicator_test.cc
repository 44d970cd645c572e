// The in-process DeviceCommunicator (cuda/in_process_device_communicator.h) on GPU 0: 2, 3 and 4
// ranks sharing one GPU and a TP=2 × CP=2 group. All-reduces are bit-identical to the host's
// rank-order fp32 sum on every rank; gathers and exchanges are exact; stalled ranks and reused
// buffers catch stream-ordering bugs; an abort, a missing rank and mismatched calls fail every
// rank quickly instead of hanging. Label gpu: skips without a CUDA device.
#include "cuda/in_process_device_communicator.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "device_communicator_checks.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "support/expect_contains.h"

namespace evo2::cuda {
namespace {

using namespace testing;  // NOLINT: the shared checks
using kernels::DeviceBuffer;
using Clock = std::chrono::steady_clock;

#define SKIP_WITHOUT_GPU() \
  if (!HaveGpus(1)) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)"

DeviceCommunicators MakeOnGpu0(int ranks,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto comms =
      MakeInProcessDeviceCommunicators(std::vector<int>(static_cast<size_t>(ranks), 0), timeout);
  EXPECT_TRUE(comms.ok()) << comms.status();
  return comms.ok() ? std::move(*comms) : DeviceCommunicators{};
}

class InProcessRanks : public ::testing::TestWithParam<int> {};

TEST_P(InProcessRanks, AllReduceSumIsTheHostRankOrderSumBitForBit) {
  SKIP_WITHOUT_GPU();
  DeviceCommunicators comms = MakeOnGpu0(GetParam());
  ASSERT_EQ(comms.size(), static_cast<size_t>(GetParam()));
  for (int64_t count : {1, 7, 1000003}) {
    CheckAllReduceSum(comms, count, /*rounds=*/3, /*rel_l2_tolerance=*/0);
  }
}

TEST_P(InProcessRanks, AllGatherConcatenatesInRankOrder) {
  SKIP_WITHOUT_GPU();
  DeviceCommunicators comms = MakeOnGpu0(GetParam());
  for (int64_t bytes : {1, 7, 1000003}) {
    CheckAllGather(comms, bytes, /*in_place=*/false);
    CheckAllGather(comms, bytes, /*in_place=*/true);
  }
}

TEST_P(InProcessRanks, ExchangeDeliversTaggedMessagesIncludingToSelfAndEmptyLists) {
  SKIP_WITHOUT_GPU();
  DeviceCommunicators comms = MakeOnGpu0(GetParam());
  CheckExchange(comms);
}

TEST_P(InProcessRanks, MixedCollectivesBackToBackShareOneStream) {
  SKIP_WITHOUT_GPU();
  DeviceCommunicators comms = MakeOnGpu0(GetParam());
  // Alternating kinds on the same communicators: the events and scratch of one collective must
  // not disturb the next.
  for (int i = 0; i < 2; ++i) {
    CheckAllReduceSum(comms, 4099, 2, 0);
    CheckExchange(comms);
    CheckAllGather(comms, 513, false);
  }
}

INSTANTIATE_TEST_SUITE_P(OnGpu0, InProcessRanks, ::testing::Values(2, 3, 4),
                         [](const auto& param_info) {
                           return "ranks" + std::to_string(param_info.param);
                         });

TEST(InProcessDeviceGroup, TpByCpSubGroupsFollowTheLayoutAndReduceToTheGlobalSum) {
  SKIP_WITHOUT_GPU();
  auto group = MakeInProcessDeviceGroup(/*device=*/0, /*tp=*/2, /*cp=*/2);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ(group->tp.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    // Global rank r = tp_rank + TP·cp_rank.
    EXPECT_EQ(group->tp[r]->rank(), r % 2);
    EXPECT_EQ(group->tp[r]->size(), 2);
    EXPECT_EQ(group->cp[r]->rank(), r / 2);
    EXPECT_EQ(group->cp[r]->size(), 2);
  }
  // Each sub-group on its own, then both in one rank thread: TP all-reduce, then CP all-reduce.
  for (int c = 0; c < 2; ++c) {
    DeviceCommunicators tp_group;
    for (int t = 0; t < 2; ++t) tp_group.push_back(std::move(group->tp[t + 2 * c]));
    CheckAllReduceSum(tp_group, 1000003, 2, 0);
    CheckExchange(tp_group);
    for (int t = 0; t < 2; ++t) group->tp[t + 2 * c] = std::move(tp_group[t]);
  }
  for (int t = 0; t < 2; ++t) {
    DeviceCommunicators cp_group;
    for (int c = 0; c < 2; ++c) cp_group.push_back(std::move(group->cp[t + 2 * c]));
    CheckAllGather(cp_group, 7, false);
    CheckExchange(cp_group);
    for (int c = 0; c < 2; ++c) group->cp[t + 2 * c] = std::move(cp_group[c]);
  }

  const int64_t count = 1001;
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  std::vector<std::vector<float>> x(4, std::vector<float>(count)), got(4);
  for (auto& v : x) {
    for (float& e : v) e = dist(rng);
  }
  DeviceCommunicators driver;  // one entry per global rank, to run the rank threads
  for (int r = 0; r < 4; ++r) driver.push_back(std::move(group->tp[r]));
  const auto status = RunRanks(driver, [&](int r, DeviceCommunicator& tp, cudaStream_t stream) {
    auto buf = DeviceBuffer::Allocate(count * sizeof(float));
    if (!buf.ok()) return buf.status();
    if (cudaMemcpyAsync(buf->get(), x[r].data(), count * sizeof(float), cudaMemcpyHostToDevice,
                        stream) != cudaSuccess) {
      return absl::InternalError("upload");
    }
    RETURN_IF_ERROR(tp.AllReduceSum(buf->as<float>(), count, stream));
    RETURN_IF_ERROR(group->cp[r]->AllReduceSum(buf->as<float>(), count, stream));
    got[r].resize(count);
    if (cudaMemcpyAsync(got[r].data(), buf->get(), count * sizeof(float), cudaMemcpyDeviceToHost,
                        stream) != cudaSuccess ||
        cudaStreamSynchronize(stream) != cudaSuccess) {
      return absl::InternalError("download");
    }
    return absl::OkStatus();
  });
  for (int r = 0; r < 4; ++r) ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
  // TP sums within each CP rank (t order), then the CP sum (c order): fp32 like the device.
  for (int64_t i = 0; i < count; ++i) {
    const float c0 = x[0][i] + x[1][i];
    const float c1 = x[2][i] + x[3][i];
    const float want = c0 + c1;
    for (int r = 0; r < 4; ++r) ASSERT_EQ(got[r][i], want) << "rank " << r << " element " << i;
  }
}

TEST(InProcessDeviceGroup, RanksOnTwoGpusReadEachOtherThroughPeerAccess) {
  if (!HaveGpus(2)) GTEST_SKIP() << "needs 2 CUDA devices; fewer present";
  auto comms = MakeInProcessDeviceCommunicators({0, 1, 0, 1});
  if (comms.status().code() == absl::StatusCode::kFailedPrecondition) {
    GTEST_SKIP() << comms.status();  // no peer access between the GPUs
  }
  ASSERT_TRUE(comms.ok()) << comms.status();
  CheckAllReduceSum(*comms, 1000003, 2, 0);
  CheckAllGather(*comms, 7, false);
  CheckExchange(*comms);
}

TEST(InProcessDeviceGroup, RefusesBadShapes) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(MakeInProcessDeviceGroup(0, 0, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeInProcessDeviceGroup(std::vector<int>{0, 0, 0}, 2, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  const auto missing = MakeInProcessDeviceGroup(count, 1, 1);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EVO2_EXPECT_CONTAINS(missing.status().message(), "requested but");
}

TEST(InProcessDeviceCommunicator, AbortFromOneRankReleasesTheOthersWithItsReason) {
  SKIP_WITHOUT_GPU();
  DeviceCommunicators comms = MakeOnGpu0(3);
  const auto start = Clock::now();
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    auto buf = DeviceBuffer::Allocate(64 * sizeof(float));
    if (!buf.ok()) return buf.status();
    if (r == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others are waiting
      comm.Abort(absl::CancelledError("rank 0 cancelled the job"));
      return absl::CancelledError("rank 0 cancelled the job");
    }
    return comm.AllReduceSum(buf->as<float>(), 64, stream);
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("abort released the peers after %.3f s\n", seconds);
  EXPECT_LT(seconds, 5.0);  // the timeout is 60 s: only the abort can have released them
  for (int r = 1; r < 3; ++r) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kCancelled) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(), "rank 0 cancelled the job");
  }
  // The sub-group stays failed: Check and every later collective say so at once.
  for (auto& comm : comms) EXPECT_EQ(comm->Check().code(), absl::StatusCode::kCancelled);
  const auto again = RunRanks(comms, [&](int, DeviceCommunicator& comm, cudaStream_t stream) {
    return comm.Exchange({}, {}, stream);
  });
  for (const auto& s : again) EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

TEST(InProcessDeviceCommunicator, ARankThatNeverArrivesIsADeadlineWithinTheTimeout) {
  SKIP_WITHOUT_GPU();
  const auto timeout = std::chrono::milliseconds(300);
  DeviceCommunicators comms = MakeOnGpu0(3, timeout);
  const auto start = Clock::now();
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    if (r == 2) return absl::OkStatus();  // never calls
    auto buf = DeviceBuffer::Allocate(1000 * sizeof(float));
    if (!buf.ok()) return buf.status();
    return comm.AllReduceSum(buf->as<float>(), 1000, stream);
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("missing rank detected after %.3f s (timeout 0.3 s)\n", seconds);
  EXPECT_GE(seconds, 0.29);
  EXPECT_LT(seconds, 3.0);  // one timeout plus thread start-up, not a hang
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(status[r].code(), absl::StatusCode::kDeadlineExceeded) << status[r];
    EVO2_EXPECT_CONTAINS(status[r].message(), "1 rank(s) never arrived");
  }
}

TEST(InProcessDeviceCommunicator, MismatchedSizesAndKindsFailEveryRank) {
  SKIP_WITHOUT_GPU();
  {
    DeviceCommunicators comms = MakeOnGpu0(3);
    const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
      auto buf = DeviceBuffer::Allocate(8 * sizeof(float));
      if (!buf.ok()) return buf.status();
      return comm.AllReduceSum(buf->as<float>(), r == 1 ? 4 : 8, stream);
    });
    for (const auto& s : status) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
      EVO2_EXPECT_CONTAINS(s.message(), "collective mismatch");
    }
  }
  {
    DeviceCommunicators comms = MakeOnGpu0(2);
    const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
      auto buf = DeviceBuffer::Allocate(64);
      if (!buf.ok()) return buf.status();
      if (r == 0) return comm.AllGather(buf->get(), buf->get(), 8, stream);
      return comm.AllReduceSum(buf->as<float>(), 8, stream);
    });
    for (const auto& s : status) EVO2_EXPECT_CONTAINS(s.message(), "collective mismatch");
  }
  {
    // A message nobody receives, and a receive nobody sends: both sides hear of it.
    DeviceCommunicators comms = MakeOnGpu0(2);
    const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
      auto buf = DeviceBuffer::Allocate(16);
      if (!buf.ok()) return buf.status();
      if (r == 0) {
        const DeviceSend send{1, 9, buf->get(), 16};
        return comm.Exchange(std::span(&send, 1), {}, stream);
      }
      return comm.Exchange({}, {}, stream);
    });
    EVO2_EXPECT_CONTAINS(status[0].message(), "sent tag 9 to rank 1, which does not receive it");
    EVO2_EXPECT_CONTAINS(status[1].message(),
                         "rank 0 sent tag 9, which this rank does not receive");
  }
  {
    DeviceCommunicators comms = MakeOnGpu0(2);
    const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
      auto buf = DeviceBuffer::Allocate(16);
      if (!buf.ok()) return buf.status();
      const DeviceSend send{1 - r, 3, buf->get(), r == 0 ? 16 : 8};
      const DeviceRecv recv{1 - r, 3, buf->get(), 8};
      return comm.Exchange(std::span(&send, 1), std::span(&recv, 1), stream);
    });
    EVO2_EXPECT_CONTAINS(status[1].message(), "expected 8 bytes with tag 3 from rank 0 but got 16");
    EVO2_EXPECT_CONTAINS(status[0].message(),
                         "sent 16 bytes with tag 3 to rank 1, which expects 8");
  }
  {
    DeviceCommunicators comms = MakeOnGpu0(2);
    const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
      const DeviceSend send{5, 1, nullptr, 0};
      if (r == 0) return comm.Exchange(std::span(&send, 1), {}, stream);
      return comm.Exchange({}, {}, stream);
    });
    EXPECT_EQ(status[0].code(), absl::StatusCode::kInvalidArgument) << status[0];
    EVO2_EXPECT_CONTAINS(status[0].message(), "to rank 5 of 2");
    EXPECT_EQ(status[1].code(), absl::StatusCode::kInvalidArgument) << status[1];
  }
}

}  // namespace
}  // namespace evo2::cuda
