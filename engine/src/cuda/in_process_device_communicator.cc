#include "cuda/in_process_device_communicator.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cuda/device_group_communicators.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/sum_in_order.cuh"
#include "parallel/host_rendezvous.h"

namespace evo2::cuda {
namespace {

enum class OpKind { kAllReduceSum, kAllGather, kExchange };

const char* OpName(OpKind k) {
  switch (k) {
    case OpKind::kAllReduceSum:
      return "AllReduceSum";
    case OpKind::kAllGather:
      return "AllGather";
    case OpKind::kExchange:
      return "Exchange";
  }
  return "?";
}

// What a rank posts at arrival 1: its inputs, and the event after which they are ready.
struct ReadyPost {
  OpKind kind = OpKind::kExchange;
  int64_t size = 0;            // AllReduceSum: elements; AllGather: bytes per rank; Exchange: 0
  const void* data = nullptr;  // AllReduceSum / AllGather input
  std::span<const DeviceSend> sends;
  std::span<const DeviceRecv> recvs;
  cudaEvent_t ready = nullptr;
};

// What a rank posts at arrival 2: the event after which it has read the peers' inputs, and
// (AllReduceSum) where its slice of the sum is.
struct DonePost {
  const float* reduced = nullptr;  // [slice] fp32 in the rank's scratch; null when it failed
  cudaEvent_t done = nullptr;
};

// Shared by the ranks of one sub-group. Slot r of `ready` / `done` is written by rank r before
// the matching arrival and read by the others after it (HostRendezvous orders the accesses).
struct SubGroup {
  SubGroup(std::vector<int> devices_in, std::chrono::milliseconds timeout)
      : rv(static_cast<int>(devices_in.size()), timeout),
        devices(std::move(devices_in)),
        ready(devices.size()),
        done(devices.size()) {}
  parallel::HostRendezvous rv;
  const std::vector<int> devices;  // rank r's CUDA ordinal
  std::vector<ReadyPost> ready;
  std::vector<DonePost> done;
};

// Rank r's slice [SliceBegin(r), SliceBegin(r+1)) of an all-reduce of `count` elements over n
// ranks: whole groups of 4 elements, so slices start 16-byte aligned (the kernel's float4 path).
int64_t SliceBegin(int64_t count, int n, int r) {
  const int64_t quads = (count + 3) / 4;
  return std::min(count, 4 * (quads * r / n));
}

class InProcessDeviceCommunicator final : public DeviceCommunicator {
 public:
  InProcessDeviceCommunicator(std::shared_ptr<SubGroup> group, int rank)
      : group_(std::move(group)),
        rank_(rank),
        device_(group_->devices[static_cast<size_t>(rank)]) {}

  ~InProcessDeviceCommunicator() override {
    // cudaFree waits for the device: the peers' streams may still read this rank's scratch.
    if (cudaSetDevice(device_) != cudaSuccess) return;
    if (scratch_ != nullptr) cudaFree(scratch_);
    for (float* p : retired_scratch_) cudaFree(p);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (done_ != nullptr) cudaEventDestroy(done_);
  }

  absl::Status Init() {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    return absl::OkStatus();
  }

  int rank() const override { return rank_; }
  int size() const override { return group_->rv.size(); }
  int device() const override { return device_; }

  absl::Status AllReduceSum(float* data, int64_t count, cudaStream_t stream) override {
    if (count < 0 || (count > 0 && data == nullptr)) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("rank ", rank_, ": AllReduceSum of ", count, " elements at ",
                       data == nullptr ? "a null pointer" : "a device pointer")));
    }
    ReadyPost post;
    post.kind = OpKind::kAllReduceSum;
    post.size = count;
    post.data = data;
    RETURN_IF_ERROR(PostReady(post, stream));
    // Between the arrivals: errors are collected, the second arrival always happens.
    absl::Status status = CheckSameCollective();
    const float* reduced = nullptr;
    if (status.ok()) status = ReduceOwnSlice(count, stream, &reduced);
    status.Update(FinishReading(reduced, stream, AllPeers()));
    if (status.ok()) status = CopySlicesIn(data, count, stream);
    return status.ok() ? status : Fail(status);
  }

  absl::Status AllGather(const void* send, void* recv, int64_t bytes_per_rank,
                         cudaStream_t stream) override {
    if (bytes_per_rank < 0 || (bytes_per_rank > 0 && (send == nullptr || recv == nullptr))) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "rank ", rank_, ": AllGather of ", bytes_per_rank, " bytes with a null buffer")));
    }
    ReadyPost post;
    post.kind = OpKind::kAllGather;
    post.size = bytes_per_rank;
    post.data = send;
    RETURN_IF_ERROR(PostReady(post, stream));
    absl::Status status = CheckSameCollective();
    if (status.ok()) status = WaitForReady(AllPeers(), stream);
    for (int p = 0; status.ok() && p < size(); ++p) {
      char* dst = static_cast<char*>(recv) + static_cast<int64_t>(p) * bytes_per_rank;
      const void* src = group_->ready[static_cast<size_t>(p)].data;
      if (dst == src || bytes_per_rank == 0) continue;  // in place (send inside recv)
      status = CopyFromPeer(dst, src, p, bytes_per_rank, stream);
    }
    status.Update(FinishReading(nullptr, stream, AllPeers()));
    return status.ok() ? status : Fail(status);
  }

  absl::Status Exchange(std::span<const DeviceSend> sends, std::span<const DeviceRecv> recvs,
                        cudaStream_t stream) override {
    RETURN_IF_ERROR(CheckMessages(sends, recvs));
    ReadyPost post;
    post.kind = OpKind::kExchange;
    post.sends = sends;
    post.recvs = recvs;
    RETURN_IF_ERROR(PostReady(post, stream));
    absl::Status status = CheckSameCollective();
    // Only the ranks this one receives from must be ready; only those that receive from this
    // one must be done reading before its stream moves on.
    std::vector<int> sources, readers;
    for (const DeviceRecv& r : recvs) {
      if (r.peer != rank_) sources.push_back(r.peer);
    }
    for (int p = 0; status.ok() && p < size(); ++p) {
      if (p == rank_) continue;
      for (const DeviceRecv& r : group_->ready[static_cast<size_t>(p)].recvs) {
        if (r.peer == rank_) readers.push_back(p);
      }
    }
    if (status.ok()) status = MatchSendsToReceivers(sends);
    if (status.ok()) status = MatchSendersToReceives(recvs);
    if (status.ok()) status = WaitForReady(Unique(sources), stream);
    for (size_t i = 0; status.ok() && i < recvs.size(); ++i) {
      const DeviceRecv& r = recvs[i];
      const absl::StatusOr<const DeviceSend*> match = FindSend(r);
      if (!match.ok()) {
        status = match.status();
      } else if (r.bytes > 0 && (*match)->data != r.data) {
        status = CopyFromPeer(r.data, (*match)->data, r.peer, r.bytes, stream);
      }
    }
    status.Update(FinishReading(nullptr, stream, Unique(readers)));
    return status.ok() ? status : Fail(status);
  }

  void Abort(const absl::Status& reason) override { group_->rv.Abort(reason); }

  absl::Status Check() override { return group_->rv.Failure(rank_, "Check"); }

 private:
  absl::Status Fail(const absl::Status& s) {
    group_->rv.Abort(s);
    return s;
  }

  std::vector<int> AllPeers() const {
    std::vector<int> peers;
    for (int p = 0; p < size(); ++p) {
      if (p != rank_) peers.push_back(p);
    }
    return peers;
  }

  static std::vector<int> Unique(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }

  // Records "ready" on the rank's stream, posts it with `post` and waits for all ranks
  // (arrival 1). An error before the arrival fails the sub-group, so no peer waits for it.
  absl::Status PostReady(ReadyPost post, cudaStream_t stream) {
    if (const cudaError_t e = cudaSetDevice(device_); e != cudaSuccess) {
      return Fail(kernels::CudaStatus(e, "cudaSetDevice", __FILE__, __LINE__));
    }
    if (const cudaError_t e = cudaEventRecord(ready_, stream); e != cudaSuccess) {
      return Fail(kernels::CudaStatus(e, "cudaEventRecord(ready)", __FILE__, __LINE__));
    }
    post.ready = ready_;
    group_->ready[static_cast<size_t>(rank_)] = post;
    return group_->rv.Arrive(rank_, OpName(post.kind));
  }

  // Same collective with the same size on every rank, else an error naming the two ranks (every
  // rank finds one: a rank that differs from any differs from some rank each one compares with).
  absl::Status CheckSameCollective() const {
    const ReadyPost& mine = group_->ready[static_cast<size_t>(rank_)];
    for (int p = 0; p < size(); ++p) {
      const ReadyPost& other = group_->ready[static_cast<size_t>(p)];
      if (other.kind != mine.kind || other.size != mine.size) {
        return absl::InternalError(
            absl::StrCat("collective mismatch: rank ", rank_, " called ", OpName(mine.kind), " of ",
                         mine.size, mine.kind == OpKind::kAllGather ? " bytes" : " elements",
                         ", rank ", p, " ", OpName(other.kind), " of ", other.size));
      }
    }
    return absl::OkStatus();
  }

  // The rank's stream waits until `peers` have enqueued everything before their collective.
  absl::Status WaitForReady(const std::vector<int>& peers, cudaStream_t stream) {
    for (int p : peers) {
      CUDA_RETURN_IF_ERROR(
          cudaStreamWaitEvent(stream, group_->ready[static_cast<size_t>(p)].ready, 0));
    }
    return absl::OkStatus();
  }

  // Records "done" (after this rank's reads), posts it, arrival 2, then makes the rank's stream
  // wait for the "done" of `readers` (the peers that read this rank's buffers). Always arrives.
  absl::Status FinishReading(const float* reduced, cudaStream_t stream,
                             const std::vector<int>& readers) {
    absl::Status status;
    if (const cudaError_t e = cudaEventRecord(done_, stream); e != cudaSuccess) {
      status = kernels::CudaStatus(e, "cudaEventRecord(done)", __FILE__, __LINE__);
      reduced = nullptr;
    }
    group_->done[static_cast<size_t>(rank_)] = DonePost{reduced, done_};
    group_->rv.ArriveUnabandonable();
    for (int p : readers) {
      if (!status.ok()) break;
      if (const cudaError_t e =
              cudaStreamWaitEvent(stream, group_->done[static_cast<size_t>(p)].done, 0);
          e != cudaSuccess) {
        status = kernels::CudaStatus(e, "cudaStreamWaitEvent(done)", __FILE__, __LINE__);
      }
    }
    return status;
  }

  // AllReduceSum step 1: scratch[0 : slice] ← Σ_p data_p[slice] in rank order.
  absl::Status ReduceOwnSlice(int64_t count, cudaStream_t stream, const float** reduced) {
    RETURN_IF_ERROR(WaitForReady(AllPeers(), stream));
    const int64_t begin = SliceBegin(count, size(), rank_);
    const int64_t end = SliceBegin(count, size(), rank_ + 1);
    ASSIGN_OR_RETURN(float* scratch, Scratch(end - begin));
    std::vector<const float*> inputs;
    for (int p = 0; p < size(); ++p) {
      inputs.push_back(static_cast<const float*>(group_->ready[static_cast<size_t>(p)].data) +
                       begin);
    }
    RETURN_IF_ERROR(kernels::LaunchSumInOrder(inputs.data(), size(), scratch, end - begin, stream));
    *reduced = scratch;
    return absl::OkStatus();
  }

  // AllReduceSum step 2: data[slice_p] ← rank p's reduced slice, for every p.
  absl::Status CopySlicesIn(float* data, int64_t count, cudaStream_t stream) {
    for (int p = 0; p < size(); ++p) {
      const int64_t begin = SliceBegin(count, size(), p);
      const int64_t n = SliceBegin(count, size(), p + 1) - begin;
      if (n == 0) continue;
      const float* reduced = group_->done[static_cast<size_t>(p)].reduced;
      if (reduced == nullptr) {
        return absl::InternalError(absl::StrCat("rank ", rank_, ": AllReduceSum: rank ", p,
                                                " failed to reduce its slice"));
      }
      RETURN_IF_ERROR(
          CopyFromPeer(data + begin, reduced, p, n * static_cast<int64_t>(sizeof(float)), stream));
    }
    return absl::OkStatus();
  }

  absl::Status CopyFromPeer(void* dst, const void* src, int peer, int64_t bytes,
                            cudaStream_t stream) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyPeerAsync(dst, device_, src,
                                             group_->devices[static_cast<size_t>(peer)],
                                             static_cast<size_t>(bytes), stream));
    return absl::OkStatus();
  }

  // A private block of at least `count` floats. A smaller old block is kept until destruction
  // instead of freed: the peers' streams may still be copying from it, and cudaFree would
  // synchronise the device inside a collective. Growth doubles, so the kept blocks together are
  // smaller than the current one.
  absl::StatusOr<float*> Scratch(int64_t count) {
    if (count <= scratch_count_) return scratch_;
    const int64_t want = std::max(count, 2 * scratch_count_);
    float* block = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&block, static_cast<size_t>(want) * sizeof(float)));
    if (scratch_ != nullptr) retired_scratch_.push_back(scratch_);
    scratch_ = block;
    scratch_count_ = want;
    return scratch_;
  }

  // Arguments of an Exchange that no collective check could catch later (before arrival 1).
  absl::Status CheckMessages(std::span<const DeviceSend> sends, std::span<const DeviceRecv> recvs) {
    for (const DeviceSend& s : sends) {
      if (s.peer < 0 || s.peer >= size() || s.bytes < 0 || (s.bytes > 0 && s.data == nullptr)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "rank ", rank_, ": Exchange send of ", s.bytes, " bytes with tag ", s.tag, " to rank ",
            s.peer, " of ", size(), s.data == nullptr ? " from a null buffer" : "")));
      }
    }
    for (const DeviceRecv& r : recvs) {
      if (r.peer < 0 || r.peer >= size() || r.bytes < 0 || (r.bytes > 0 && r.data == nullptr)) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("rank ", rank_, ": Exchange receive of ", r.bytes, " bytes with tag ",
                         r.tag, " from rank ", r.peer, " of ", size(),
                         r.data == nullptr ? " into a null buffer" : "")));
      }
    }
    return absl::OkStatus();
  }

  // The send of `r.peer` to this rank with r's tag and size.
  absl::StatusOr<const DeviceSend*> FindSend(const DeviceRecv& r) const {
    const DeviceSend* match = nullptr;
    for (const DeviceSend& s : group_->ready[static_cast<size_t>(r.peer)].sends) {
      if (s.peer != rank_ || s.tag != r.tag) continue;
      if (match != nullptr) {
        return absl::InternalError(absl::StrCat("rank ", rank_, ": Exchange: rank ", r.peer,
                                                " sent two messages with tag ", r.tag));
      }
      match = &s;
    }
    if (match == nullptr || match->bytes != r.bytes) {
      return absl::InternalError(absl::StrCat(
          "rank ", rank_, ": Exchange expected ", r.bytes, " bytes with tag ", r.tag, " from rank ",
          r.peer,
          match ? absl::StrCat(" but got ", match->bytes) : std::string(" but none was sent")));
    }
    return match;
  }

  // Every message this rank sends is received, with its size (NCCL would hang or truncate).
  absl::Status MatchSendsToReceivers(std::span<const DeviceSend> sends) const {
    for (const DeviceSend& s : sends) {
      const DeviceRecv* match = nullptr;
      for (const DeviceRecv& r : group_->ready[static_cast<size_t>(s.peer)].recvs) {
        if (r.peer == rank_ && r.tag == s.tag) match = &r;
      }
      if (match == nullptr) {
        return absl::InternalError(absl::StrCat("rank ", rank_, ": Exchange sent tag ", s.tag,
                                                " to rank ", s.peer,
                                                ", which does not receive it"));
      }
      if (match->bytes != s.bytes) {
        return absl::InternalError(absl::StrCat("rank ", rank_, ": Exchange sent ", s.bytes,
                                                " bytes with tag ", s.tag, " to rank ", s.peer,
                                                ", which expects ", match->bytes));
      }
    }
    return absl::OkStatus();
  }

  // Every message sent to this rank is received (the receiving side of the same check).
  absl::Status MatchSendersToReceives(std::span<const DeviceRecv> recvs) const {
    for (int p = 0; p < size(); ++p) {
      for (const DeviceSend& s : group_->ready[static_cast<size_t>(p)].sends) {
        if (s.peer != rank_) continue;
        bool received = false;
        for (const DeviceRecv& r : recvs) received = received || (r.peer == p && r.tag == s.tag);
        if (!received) {
          return absl::InternalError(absl::StrCat("rank ", rank_, ": Exchange: rank ", p,
                                                  " sent tag ", s.tag,
                                                  ", which this rank does not receive"));
        }
      }
    }
    return absl::OkStatus();
  }

  std::shared_ptr<SubGroup> group_;
  const int rank_;
  const int device_;
  cudaEvent_t ready_ = nullptr;  // recorded on the rank's stream at each collective's start
  cudaEvent_t done_ = nullptr;   // recorded after the rank's reads of the peers' buffers
  float* scratch_ = nullptr;     // [scratch_count_] fp32: this rank's all-reduce slice
  int64_t scratch_count_ = 0;
  std::vector<float*> retired_scratch_;
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<DeviceCommunicator>>> MakeInProcessDeviceCommunicators(
    const std::vector<int>& devices, std::chrono::milliseconds timeout) {
  if (devices.empty()) return absl::InvalidArgumentError("an in-process sub-group needs ≥ 1 rank");
  int count = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  for (int d : devices) {
    if (d < 0 || d >= count) {
      return absl::InvalidArgumentError(
          absl::StrCat("CUDA device ", d, " requested but ", count, " present"));
    }
  }
  // Distinct devices read each other's memory (the reduction kernel): peer access both ways.
  for (int a : devices) {
    for (int b : devices) {
      if (a == b) continue;
      int can = 0;
      CUDA_RETURN_IF_ERROR(cudaDeviceCanAccessPeer(&can, a, b));
      if (!can) {
        return absl::FailedPreconditionError(absl::StrCat(
            "CUDA device ", a, " cannot access device ", b,
            " (no peer access): place the in-process ranks on one device or use NCCL"));
      }
      CUDA_RETURN_IF_ERROR(cudaSetDevice(a));
      const cudaError_t e = cudaDeviceEnablePeerAccess(b, 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled) {
        (void)cudaGetLastError();  // clears the sticky "already enabled"
      } else {
        CUDA_RETURN_IF_ERROR(e);
      }
    }
  }
  auto group = std::make_shared<SubGroup>(devices, timeout);
  std::vector<std::unique_ptr<DeviceCommunicator>> comms;
  for (int r = 0; r < static_cast<int>(devices.size()); ++r) {
    auto comm = std::make_unique<InProcessDeviceCommunicator>(group, r);
    RETURN_IF_ERROR(comm->Init());
    comms.push_back(std::move(comm));
  }
  return comms;
}

absl::StatusOr<DeviceGroup> MakeInProcessDeviceGroup(const std::vector<int>& devices, int tp,
                                                     int cp, std::chrono::milliseconds timeout) {
  if (tp < 1 || cp < 1 || devices.size() != static_cast<size_t>(tp) * static_cast<size_t>(cp)) {
    return absl::InvalidArgumentError(absl::StrCat("a TP=", tp, " × CP=", cp, " group needs ",
                                                   tp * cp, " devices, got ", devices.size()));
  }
  return AssembleDeviceGroup(tp, cp, [&](std::span<const int> ranks) {
    std::vector<int> sub_devices;
    for (int r : ranks) sub_devices.push_back(devices[static_cast<size_t>(r)]);
    return MakeInProcessDeviceCommunicators(sub_devices, timeout);
  });
}

absl::StatusOr<DeviceGroup> MakeInProcessDeviceGroup(int device, int tp, int cp,
                                                     std::chrono::milliseconds timeout) {
  if (tp < 1 || cp < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a device group needs TP ≥ 1 and CP ≥ 1, got TP=", tp, " CP=", cp));
  }
  return MakeInProcessDeviceGroup(std::vector<int>(static_cast<size_t>(tp * cp), device), tp, cp,
                                  timeout);
}

}  // namespace evo2::cuda
