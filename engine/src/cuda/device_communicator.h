// Communication between the GPU ranks of a CUDA engine group (docs/parallelism.md): the device
// counterpart of evo2/communicator.h. One DeviceCommunicator per rank per sub-group (TP or CP).
//
// Every method is a collective: all ranks of the sub-group call it in the same order with
// matching sizes. Calls are stream-ordered: the transfer is enqueued on `stream` (the calling
// rank's stream) after the work already there, and the call returns once it is enqueued. It may
// block the host until the peers have enqueued theirs, never until the device has finished.
// Buffers are device memory on the rank's device.
//
// Two implementations:
//   - in-process (cuda/in_process_device_communicator.h): ranks are host threads of one process
//     whose buffers may all live on one GPU (device-to-device copies and a reduction kernel
//     between streams, ordered by events); proves a decomposition on a single GPU;
//   - NCCL (cuda/nccl_communicator.h): one rank per GPU.
//
// Failure contract (never a hang): Abort(reason) marks the sub-group failed; every rank blocked
// in, or later entering, a collective returns an error carrying the first reason. Check()
// reports errors that surface asynchronously (NCCL's async error, a peer's abort) and is called
// by the owner before it trusts a result. After a failure the communicator stays failed; the
// owner builds a new group for the next job.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace evo2::cuda {

// One point-to-point transfer of an Exchange. `tag` identifies the message for checking (both
// sides name the same tag and size); NCCL pairs a peer's messages by order, so callers list
// them in tag order on both sides.
struct DeviceSend {
  int peer = 0;
  int64_t tag = 0;
  const void* data = nullptr;
  int64_t bytes = 0;
};
struct DeviceRecv {
  int peer = 0;
  int64_t tag = 0;
  void* data = nullptr;
  int64_t bytes = 0;
};

class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int device() const = 0;  // CUDA ordinal of this rank's buffers and stream

  // In place: data ← Σ over ranks of data. Every rank ends with bit-identical values.
  virtual absl::Status AllReduceSum(float* data, int64_t count, cudaStream_t stream) = 0;

  // recv [size · bytes_per_rank] ← the ranks' `send` concatenated in rank order.
  virtual absl::Status AllGather(const void* send, void* recv, int64_t bytes_per_rank,
                                 cudaStream_t stream) = 0;

  // A group of point-to-point transfers; every rank calls it, possibly with empty lists; a send
  // to oneself is a copy. The receives are complete for work enqueued later on `stream`.
  virtual absl::Status Exchange(std::span<const DeviceSend> sends,
                                std::span<const DeviceRecv> recvs, cudaStream_t stream) = 0;

  // Marks the sub-group failed with `reason` (the first reason is kept); never blocks.
  virtual void Abort(const absl::Status& reason) = 0;
  // OK, or the sub-group's failure (an abort, a timeout, an asynchronous NCCL error).
  virtual absl::Status Check() = 0;
};

// The TP and CP communicators of one replica, indexed by global rank r = tp_rank + TP·cp_rank:
// tp[r] connects the ranks with r's cp_rank, cp[r] the ranks with r's tp_rank.
struct DeviceGroup {
  int tp_size = 1;
  int cp_size = 1;
  std::vector<std::unique_ptr<DeviceCommunicator>> tp;
  std::vector<std::unique_ptr<DeviceCommunicator>> cp;
};

}  // namespace evo2::cuda
