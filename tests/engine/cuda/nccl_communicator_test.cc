// The NCCL DeviceCommunicator (cuda/nccl_communicator.h): one rank on one GPU always; 2 and 4
// ranks (TP, CP and TP=2 × CP=2) only where that many GPUs are present, since NCCL refuses two
// ranks on one GPU. All-reduces are bit-identical on every rank and within 1e-6 rel-L2 of the
// host's rank-order fp32 sum (NCCL adds in ring order, not rank order: a few fp32 roundings of
// 2–4 terms, ~1e-7 each); gathers and exchanges are exact; an abort or a peer that never joins
// releases the others (WaitForStream) instead of hanging. Label gpu: skips without the GPUs.
#include "cuda/nccl_communicator.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "cuda/communicator_stream_wait.h"
#include "device_communicator_checks.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "support/expect_contains.h"

namespace evo2::cuda {
namespace {

using namespace testing;  // NOLINT: the shared checks
using kernels::DeviceBuffer;
using Clock = std::chrono::steady_clock;

// NCCL's sum order differs from the host's rank order (see the header comment).
constexpr double kNcclRelL2 = 1e-6;

#define SKIP_WITHOUT_GPUS(n) \
  if (!HaveGpus(n))          \
  GTEST_SKIP() << "needs " << (n) << " CUDA devices (NCCL runs one rank per GPU); fewer present"

std::vector<int> FirstGpus(int n) {
  std::vector<int> d;
  for (int i = 0; i < n; ++i) d.push_back(i);
  return d;
}

// The communicators of global `ranks` from group.tp or group.cp, moved out to run the checks
// on (put back with PutBack: the group's communicators are torn down together).
DeviceCommunicators Take(std::vector<std::unique_ptr<DeviceCommunicator>>& v,
                         const std::vector<int>& ranks) {
  DeviceCommunicators out;
  for (int r : ranks) out.push_back(std::move(v[static_cast<size_t>(r)]));
  return out;
}
void PutBack(std::vector<std::unique_ptr<DeviceCommunicator>>& v, const std::vector<int>& ranks,
             DeviceCommunicators& comms) {
  for (size_t i = 0; i < ranks.size(); ++i) v[static_cast<size_t>(ranks[i])] = std::move(comms[i]);
}

void RunAllChecks(DeviceCommunicators& comms) {
  for (int64_t count : {1, 7, 1000003}) CheckAllReduceSum(comms, count, 3, kNcclRelL2);
  for (int64_t bytes : {1, 7, 1000003}) {
    CheckAllGather(comms, bytes, false);
    CheckAllGather(comms, bytes, true);
  }
  CheckExchange(comms);
}

TEST(NcclDeviceCommunicator, OneRankOnOneGpu) {
  SKIP_WITHOUT_GPUS(1);
  std::printf("NCCL %s\n", NcclVersion().c_str());
  auto group = MakeNcclDeviceGroup({0}, 1, 1);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ(group->tp[0]->size(), 1);
  ASSERT_EQ(group->cp[0]->rank(), 0);
  for (auto* v : {&group->tp, &group->cp}) {
    DeviceCommunicators comms = Take(*v, {0});
    RunAllChecks(comms);
    PutBack(*v, {0}, comms);
  }
}

TEST(NcclDeviceCommunicator, AbortFailsTheGroupForEveryLaterCall) {
  SKIP_WITHOUT_GPUS(1);
  auto group = MakeNcclDeviceGroup({0}, 1, 1);
  ASSERT_TRUE(group.ok()) << group.status();
  DeviceCommunicators comms = Take(group->tp, {0});
  const auto status = RunRanks(comms, [&](int, DeviceCommunicator& comm, cudaStream_t stream) {
    auto buf = DeviceBuffer::Allocate(16 * sizeof(float));
    if (!buf.ok()) return buf.status();
    RETURN_IF_ERROR(comm.AllReduceSum(buf->as<float>(), 16, stream));
    DeviceCommunicator* list[] = {&comm};
    RETURN_IF_ERROR(WaitForStream(stream, list));
    comm.Abort(absl::CancelledError("the job was cancelled"));
    return comm.AllReduceSum(buf->as<float>(), 16, stream);
  });
  EXPECT_EQ(status[0].code(), absl::StatusCode::kCancelled) << status[0];
  EVO2_EXPECT_CONTAINS(status[0].message(), "the job was cancelled");
  EXPECT_EQ(comms[0]->Check().code(), absl::StatusCode::kCancelled);
  // The group is one failure: the CP communicator of the same group is failed too.
  EXPECT_EQ(group->cp[0]->Check().code(), absl::StatusCode::kCancelled);
}

TEST(NcclDeviceCommunicator, RefusesTwoRanksOnOneGpuAndBadShapes) {
  SKIP_WITHOUT_GPUS(1);
  const auto shared = MakeNcclDeviceGroup({0, 0}, 2, 1);
  EXPECT_EQ(shared.status().code(), absl::StatusCode::kInvalidArgument);
  EVO2_EXPECT_CONTAINS(shared.status().message(), "NCCL needs one GPU per rank");
  EXPECT_EQ(MakeNcclDeviceGroup({0}, 2, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeNcclDeviceGroup({99}, 1, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NcclDeviceCommunicator, TwoGpus) {
  SKIP_WITHOUT_GPUS(2);
  for (auto [tp, cp] : {std::pair{2, 1}, std::pair{1, 2}}) {
    auto group = MakeNcclDeviceGroup(FirstGpus(2), tp, cp);
    ASSERT_TRUE(group.ok()) << group.status();
    auto& v = tp == 2 ? group->tp : group->cp;
    DeviceCommunicators comms = Take(v, {0, 1});
    RunAllChecks(comms);
    PutBack(v, {0, 1}, comms);
  }
}

TEST(NcclDeviceCommunicator, FourGpusAsTpTimesCp) {
  SKIP_WITHOUT_GPUS(4);
  {
    auto group = MakeNcclDeviceGroup(FirstGpus(4), 4, 1);
    ASSERT_TRUE(group.ok()) << group.status();
    DeviceCommunicators comms = Take(group->tp, {0, 1, 2, 3});
    RunAllChecks(comms);
    PutBack(group->tp, {0, 1, 2, 3}, comms);
  }
  auto group = MakeNcclDeviceGroup(FirstGpus(4), 2, 2);
  ASSERT_TRUE(group.ok()) << group.status();
  for (const std::vector<int>& ranks : {std::vector<int>{0, 1}, std::vector<int>{2, 3}}) {
    DeviceCommunicators comms = Take(group->tp, ranks);
    CheckAllReduceSum(comms, 1000003, 2, kNcclRelL2);
    CheckExchange(comms);
    PutBack(group->tp, ranks, comms);
  }
  for (const std::vector<int>& ranks : {std::vector<int>{0, 2}, std::vector<int>{1, 3}}) {
    DeviceCommunicators comms = Take(group->cp, ranks);
    CheckAllGather(comms, 1000003, false);
    CheckExchange(comms);
    PutBack(group->cp, ranks, comms);
  }
}

TEST(NcclDeviceCommunicator, AbortFromOneRankReleasesAPeerWaitingInAKernel) {
  SKIP_WITHOUT_GPUS(2);
  auto group = MakeNcclDeviceGroup(FirstGpus(2), 2, 1, std::chrono::seconds(60));
  ASSERT_TRUE(group.ok()) << group.status();
  DeviceCommunicators comms = Take(group->tp, {0, 1});
  const auto start = Clock::now();
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    if (r == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // rank 1 is in its kernel
      comm.Abort(absl::CancelledError("rank 0 cancelled the job"));
      return absl::CancelledError("rank 0 cancelled the job");
    }
    auto buf = DeviceBuffer::Allocate(1024 * sizeof(float));
    if (!buf.ok()) return buf.status();
    RETURN_IF_ERROR(comm.AllReduceSum(buf->as<float>(), 1024, stream));
    // The rank's CP communicator is listed first, so it is the one that reports the failure:
    // the TP one, whose kernel waits, must be aborted with it (RunRanks then synchronises the
    // stream, which would hang otherwise).
    DeviceCommunicator* list[] = {group->cp[1].get(), &comm};
    return WaitForStream(stream, list);
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("NCCL abort released the peer after %.3f s\n", seconds);
  EXPECT_LT(seconds, 10.0);  // the timeout is 60 s
  EXPECT_EQ(status[1].code(), absl::StatusCode::kCancelled) << status[1];
  EVO2_EXPECT_CONTAINS(status[1].message(), "rank 0 cancelled the job");
  PutBack(group->tp, {0, 1}, comms);
}

TEST(NcclDeviceCommunicator, APeerThatNeverJoinsIsADeadlineNotAHang) {
  SKIP_WITHOUT_GPUS(2);
  auto group = MakeNcclDeviceGroup(FirstGpus(2), 2, 1, std::chrono::milliseconds(1000));
  ASSERT_TRUE(group.ok()) << group.status();
  DeviceCommunicators comms = Take(group->tp, {0, 1});
  const auto start = Clock::now();
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    if (r == 0) return absl::OkStatus();  // never joins
    auto buf = DeviceBuffer::Allocate(1024 * sizeof(float));
    if (!buf.ok()) return buf.status();
    RETURN_IF_ERROR(comm.AllReduceSum(buf->as<float>(), 1024, stream));
    DeviceCommunicator* list[] = {&comm};
    return WaitForStream(stream, list);
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("NCCL missing peer detected after %.3f s (timeout 1 s)\n", seconds);
  EXPECT_GE(seconds, 0.99);
  EXPECT_LT(seconds, 10.0);
  EXPECT_EQ(status[1].code(), absl::StatusCode::kDeadlineExceeded) << status[1];
  EVO2_EXPECT_CONTAINS(status[1].message(), "a peer never joined it");
  PutBack(group->tp, {0, 1}, comms);
}

}  // namespace
}  // namespace evo2::cuda
