#include "cuda/nccl_communicator.h"

#include <nccl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cuda/device_group_communicators.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status NcclStatus(ncclResult_t result, absl::string_view what, ncclComm_t comm) {
  std::string message = absl::StrCat(what, ": NCCL ", ncclGetErrorString(result));
  if (comm != nullptr) {
    const char* last = ncclGetLastError(comm);
    if (last != nullptr && *last != '\0') absl::StrAppend(&message, " (", last, ")");
  }
  if (result == ncclInvalidArgument || result == ncclInvalidUsage) {
    return absl::InvalidArgumentError(message);
  }
  if (result == ncclSystemError || result == ncclRemoteError) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// Every NCCL communicator of one group and the group's one failure.
class NcclGroupState {
 public:
  explicit NcclGroupState(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  ~NcclGroupState() {
    // Finalise all (non-blocking), let them settle, destroy; abort any that cannot (never a
    // hang at teardown either). After a failure, abort straight away.
    const bool failed = !failure_.ok();
    std::vector<bool> finalized(slots_.size(), false);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].comm == nullptr || failed) continue;
      cudaSetDevice(slots_[i].device);
      const ncclResult_t r = ncclCommFinalize(slots_[i].comm);
      finalized[i] = r == ncclSuccess || r == ncclInProgress;
    }
    const auto deadline =
        Clock::now() + std::min<Clock::duration>(timeout_, std::chrono::seconds(60));
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].comm == nullptr) continue;
      cudaSetDevice(slots_[i].device);
      if (finalized[i] && Settle(slots_[i].comm, deadline, "finalize").ok()) {
        ncclCommDestroy(slots_[i].comm);
      } else {
        ncclCommAbort(slots_[i].comm);
      }
    }
  }

  std::chrono::milliseconds timeout() const { return timeout_; }

  // Polls a non-blocking communicator until its pending operation has settled (not
  // ncclInProgress): OK, its error, the group's failure (an abort meanwhile), or
  // DEADLINE_EXCEEDED after `deadline`.
  absl::Status Settle(ncclComm_t comm, Clock::time_point deadline, absl::string_view what) const {
    for (int polls = 0;; ++polls) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
      if (query != ncclSuccess) return NcclStatus(query, what, comm);
      if (state == ncclSuccess) return absl::OkStatus();
      if (state != ncclInProgress) return NcclStatus(state, what, comm);
      if (absl::Status f = failure(); !f.ok()) return f;
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            what, ": NCCL still in progress after the timeout (a peer never joined it?)"));
      }
      if (polls < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
  }

  // Registers a communicator of global rank `owner` (owned here from now on); returns its slot.
  size_t Add(ncclComm_t comm, int device, int owner) {
    std::lock_guard lock(mu_);
    slots_.push_back({comm, device, owner});
    return slots_.size() - 1;
  }

  ncclComm_t comm(size_t slot) const {
    std::lock_guard lock(mu_);
    return slots_[slot].comm;
  }

  // Aborts every communicator of global rank `owner` (its TP and its CP one), so none of its
  // kernels keeps waiting, whichever communicator reported the failure. Called by the owner's
  // thread only: the only thread using those communicators.
  void AbortOwner(int owner) {
    std::vector<std::pair<ncclComm_t, int>> mine;
    {
      std::lock_guard lock(mu_);
      for (Slot& s : slots_) {
        if (s.owner == owner && s.comm != nullptr) {
          mine.emplace_back(std::exchange(s.comm, nullptr), s.device);
        }
      }
    }
    for (auto [comm, device] : mine) {
      cudaSetDevice(device);
      ncclCommAbort(comm);
    }
  }

  void Fail(const absl::Status& reason) {
    std::lock_guard lock(mu_);
    if (failure_.ok()) failure_ = reason.ok() ? absl::AbortedError("aborted") : reason;
  }

  absl::Status failure() const {
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  struct Slot {
    ncclComm_t comm = nullptr;  // null once aborted
    int device = 0;
    int owner = 0;  // global rank
  };
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  absl::Status failure_;
  std::vector<Slot> slots_;
};

class NcclDeviceCommunicator final : public DeviceCommunicator {
 public:
  NcclDeviceCommunicator(std::shared_ptr<NcclGroupState> group, size_t slot, int owner, int rank,
                         int size, int device, std::string name)
      : group_(std::move(group)),
        slot_(slot),
        owner_(owner),
        rank_(rank),
        size_(size),
        device_(device),
        name_(std::move(name)) {}

  ~NcclDeviceCommunicator() override {
    if (pending_ != nullptr && cudaSetDevice(device_) == cudaSuccess) cudaEventDestroy(pending_);
  }

  absl::Status Init() {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&pending_, cudaEventDisableTiming));
    return absl::OkStatus();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const override { return device_; }

  absl::Status AllReduceSum(float* data, int64_t count, cudaStream_t stream) override {
    if (count < 0 || (count > 0 && data == nullptr)) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(Who("AllReduceSum"), ": ", count, " elements at a null pointer")));
    }
    ASSIGN_OR_RETURN(ncclComm_t comm, Enter("AllReduceSum"));
    if (count == 0) return absl::OkStatus();
    return Issued(
        "AllReduceSum", comm, stream,
        ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat32, ncclSum, comm, stream));
  }

  absl::Status AllGather(const void* send, void* recv, int64_t bytes_per_rank,
                         cudaStream_t stream) override {
    if (bytes_per_rank < 0 || (bytes_per_rank > 0 && (send == nullptr || recv == nullptr))) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(Who("AllGather"), ": ", bytes_per_rank, " bytes with a null buffer")));
    }
    ASSIGN_OR_RETURN(ncclComm_t comm, Enter("AllGather"));
    if (bytes_per_rank == 0) return absl::OkStatus();
    return Issued(
        "AllGather", comm, stream,
        ncclAllGather(send, recv, static_cast<size_t>(bytes_per_rank), ncclUint8, comm, stream));
  }

  absl::Status Exchange(std::span<const DeviceSend> sends, std::span<const DeviceRecv> recvs,
                        cudaStream_t stream) override {
    for (const DeviceSend& s : sends) {
      if (s.peer < 0 || s.peer >= size_ || s.bytes < 0 || (s.bytes > 0 && s.data == nullptr)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(Who("Exchange"), ": send of ", s.bytes,
                                                            " bytes with tag ", s.tag, " to rank ",
                                                            s.peer, " of ", size_)));
      }
    }
    for (const DeviceRecv& r : recvs) {
      if (r.peer < 0 || r.peer >= size_ || r.bytes < 0 || (r.bytes > 0 && r.data == nullptr)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(Who("Exchange"), ": receive of ",
                                                            r.bytes, " bytes with tag ", r.tag,
                                                            " from rank ", r.peer, " of ", size_)));
      }
    }
    ASSIGN_OR_RETURN(ncclComm_t comm, Enter("Exchange"));
    bool any = false;
    for (const DeviceSend& s : sends) any = any || s.bytes > 0;
    for (const DeviceRecv& r : recvs) any = any || r.bytes > 0;
    if (!any) return absl::OkStatus();
    ncclResult_t result = ncclGroupStart();
    for (const DeviceSend& s : sends) {
      if (result != ncclSuccess && result != ncclInProgress) break;
      if (s.bytes > 0) {
        result = ncclSend(s.data, static_cast<size_t>(s.bytes), ncclUint8, s.peer, comm, stream);
      }
    }
    for (const DeviceRecv& r : recvs) {
      if (result != ncclSuccess && result != ncclInProgress) break;
      if (r.bytes > 0) {
        result = ncclRecv(r.data, static_cast<size_t>(r.bytes), ncclUint8, r.peer, comm, stream);
      }
    }
    const ncclResult_t end = ncclGroupEnd();  // always closes the group
    if (result == ncclSuccess || result == ncclInProgress) result = end;
    return Issued("Exchange", comm, stream, result);
  }

  void Abort(const absl::Status& reason) override { group_->Fail(reason); }

  absl::Status Check() override {
    absl::Status failure = group_->failure();
    if (!failure.ok()) return Failed("Check", failure);
    ncclComm_t comm = group_->comm(slot_);
    if (comm == nullptr) return Failed("Check", absl::AbortedError("communicator aborted"));
    ncclResult_t state = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
    if (query != ncclSuccess || (state != ncclSuccess && state != ncclInProgress)) {
      return Fail(
          NcclStatus(query != ncclSuccess ? query : state, Who("asynchronous error"), comm));
    }
    if (pending_recorded_) {
      const cudaError_t done = cudaEventQuery(pending_);
      if (done == cudaSuccess) {
        pending_recorded_ = false;
      } else if (done != cudaErrorNotReady) {
        return Fail(kernels::CudaStatus(done, "cudaEventQuery(collective)", __FILE__, __LINE__));
      } else if (Clock::now() - pending_since_ > group_->timeout()) {
        return Fail(absl::DeadlineExceededError(
            absl::StrCat(Who(pending_op_), ": still pending ", group_->timeout().count(),
                         " ms after it was enqueued (a peer never joined it?)")));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string Who(absl::string_view op) const {
    return absl::StrCat("rank ", rank_, " of ", size_, " of ", name_, ", ", op);
  }

  // The group's failure as this rank reports it; its own communicator is aborted on the way, so
  // its kernels stop waiting for peers.
  absl::Status Failed(absl::string_view op, const absl::Status& failure) {
    group_->AbortOwner(owner_);
    return absl::Status(failure.code(),
                        absl::StrCat(Who(op), ": the group failed: ", failure.message()));
  }

  absl::Status Fail(const absl::Status& reason) {
    group_->Fail(reason);
    group_->AbortOwner(owner_);
    return reason;
  }

  // Start of a collective: the rank's device current, the group not failed.
  absl::StatusOr<ncclComm_t> Enter(absl::string_view op) {
    if (const cudaError_t e = cudaSetDevice(device_); e != cudaSuccess) {
      return Fail(kernels::CudaStatus(e, "cudaSetDevice", __FILE__, __LINE__));
    }
    absl::Status failure = group_->failure();
    if (!failure.ok()) return Failed(op, failure);
    ncclComm_t comm = group_->comm(slot_);
    if (comm == nullptr) return Failed(op, absl::AbortedError("communicator aborted"));
    return comm;
  }

  // After an NCCL call on a non-blocking communicator: waits for it to be enqueued (never for
  // the device), then records when, for Check's timeout.
  absl::Status Issued(absl::string_view op, ncclComm_t comm, cudaStream_t stream,
                      ncclResult_t result) {
    if (result != ncclSuccess && result != ncclInProgress) {
      return Fail(NcclStatus(result, Who(op), comm));
    }
    if (result == ncclInProgress) {
      const absl::Status settled = group_->Settle(comm, Clock::now() + group_->timeout(), Who(op));
      if (!settled.ok()) return Fail(settled);
    }
    // The clock runs from the oldest collective still unfinished: restart it unless the one
    // recorded before is still pending.
    const bool previous_pending =
        pending_recorded_ && cudaEventQuery(pending_) == cudaErrorNotReady;
    if (const cudaError_t e = cudaEventRecord(pending_, stream); e != cudaSuccess) {
      return Fail(kernels::CudaStatus(e, "cudaEventRecord(collective)", __FILE__, __LINE__));
    }
    if (!previous_pending) pending_since_ = Clock::now();
    pending_recorded_ = true;
    pending_op_ = std::string(op);
    return absl::OkStatus();
  }

  std::shared_ptr<NcclGroupState> group_;
  const size_t slot_;
  const int owner_;  // global rank: its TP and CP communicators are aborted together
  const int rank_, size_, device_;
  const std::string name_;         // "the sub-group of GPUs 0,2"
  cudaEvent_t pending_ = nullptr;  // recorded after the last collective enqueued
  bool pending_recorded_ = false;
  Clock::time_point pending_since_;
  std::string pending_op_;
};

}  // namespace

std::string NcclVersion() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "unknown";
  return absl::StrCat(version / 10000, ".", version / 100 % 100, ".", version % 100);
}

absl::StatusOr<DeviceGroup> MakeNcclDeviceGroup(const std::vector<int>& devices, int tp, int cp,
                                                std::chrono::milliseconds timeout) {
  if (tp < 1 || cp < 1 || devices.size() != static_cast<size_t>(tp) * static_cast<size_t>(cp)) {
    return absl::InvalidArgumentError(absl::StrCat("a TP=", tp, " × CP=", cp, " group needs ",
                                                   tp * cp, " GPUs, got ", devices.size()));
  }
  int count = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  std::set<int> seen;
  for (int d : devices) {
    if (d < 0 || d >= count) {
      return absl::InvalidArgumentError(absl::StrCat("GPU ", d, " requested but ", count,
                                                     " present (TP=", tp, " × CP=", cp, ")"));
    }
    if (!seen.insert(d).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("GPU ", d,
                       " given to two ranks: NCCL needs one GPU per rank (the in-process "
                       "communicator can share a GPU)"));
    }
  }
  auto state = std::make_shared<NcclGroupState>(timeout);
  return AssembleDeviceGroup(
      tp, cp, [&](std::span<const int> ranks) -> absl::StatusOr<DeviceCommunicators> {
        const int n = static_cast<int>(ranks.size());
        std::vector<int> sub_devices;
        for (int r : ranks) sub_devices.push_back(devices[static_cast<size_t>(r)]);
        const std::string name =
            absl::StrCat("the sub-group of GPUs ", absl::StrJoin(sub_devices, ","));
        ncclUniqueId id;
        if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
          return NcclStatus(r, "ncclGetUniqueId", nullptr);
        }
        ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
        config.blocking = 0;  // every wait is ours, polled, so a failure never hangs
        std::vector<ncclComm_t> comms(static_cast<size_t>(n), nullptr);
        ncclResult_t result = ncclGroupStart();
        for (int i = 0; i < n && (result == ncclSuccess || result == ncclInProgress); ++i) {
          CUDA_RETURN_IF_ERROR(cudaSetDevice(sub_devices[static_cast<size_t>(i)]));
          result = ncclCommInitRankConfig(&comms[static_cast<size_t>(i)], n, id, i, &config);
        }
        const ncclResult_t end = ncclGroupEnd();
        if (result == ncclSuccess || result == ncclInProgress) result = end;
        // From here the state owns them: it aborts them if anything below fails.
        std::vector<size_t> slots;
        for (int i = 0; i < n; ++i) {
          if (comms[static_cast<size_t>(i)] != nullptr) {
            slots.push_back(state->Add(comms[static_cast<size_t>(i)],
                                       sub_devices[static_cast<size_t>(i)],
                                       ranks[static_cast<size_t>(i)]));
          }
        }
        if ((result != ncclSuccess && result != ncclInProgress) || slots.size() != comms.size()) {
          if (result == ncclSuccess || result == ncclInProgress) result = ncclInternalError;
          state->Fail(NcclStatus(result, "ncclCommInitRankConfig", nullptr));
          return state->failure();
        }
        const auto deadline = Clock::now() + timeout;
        for (int i = 0; i < n; ++i) {
          const absl::Status settled =
              state->Settle(comms[static_cast<size_t>(i)], deadline,
                            absl::StrCat("NCCL initialisation of rank ", i, " of ", name));
          if (!settled.ok()) {
            state->Fail(settled);
            return settled;
          }
        }
        DeviceCommunicators out;
        for (int i = 0; i < n; ++i) {
          auto comm = std::make_unique<NcclDeviceCommunicator>(
              state, slots[static_cast<size_t>(i)], ranks[static_cast<size_t>(i)], i, n,
              sub_devices[static_cast<size_t>(i)], name);
          RETURN_IF_ERROR(comm->Init());
          out.push_back(std::move(comm));
        }
        return out;
      });
}

}  // namespace evo2::cuda
