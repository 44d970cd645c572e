// Communication between the ranks of an engine group (tensor- or context-parallel sub-group).
//
// One Communicator object per rank per sub-group; every method is a collective: all ranks of
// the sub-group call it in the same order with matching sizes. Implemented in-process
// (engine/src/parallel/in_process_communicator.h): ranks are host threads of one process
// exchanging through shared memory, as the CPU backend's engine groups run. The CUDA backend
// has the stream-ordered counterpart on device buffers (engine/src/cuda/device_communicator.h),
// in-process (ranks sharing one GPU) and over NCCL.
//
// Failure contract (never a hang): a rank that fails calls Abort(status) on its communicators;
// every rank blocked in, or later entering, a collective of that sub-group returns an error
// carrying that status instead of waiting. A rank that stops calling without aborting is
// detected by a timeout (DEADLINE_EXCEEDED naming the waiting rank). After an abort the
// communicator stays failed; the owner builds a new one for the next job.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace evo2 {

enum class ReduceOp { kSum, kMax };

// One point-to-point transfer of an Exchange. `tag` identifies the message for checking (both
// sides must name the same tag and size); NCCL pairs a peer's sends and receives by order, so
// callers list them in the same (tag) order on both sides.
struct SendSpec {
  int peer = 0;
  int64_t tag = 0;
  std::span<const float> data;
};
struct RecvSpec {
  int peer = 0;
  int64_t tag = 0;
  std::span<float> data;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: data ← op over ranks of data. The sum is formed in rank order on every rank, so
  // all ranks hold bit-identical results (replicated activations stay identical).
  virtual absl::Status AllReduce(std::span<float> data, ReduceOp op) = 0;
  virtual absl::Status AllReduce(std::span<double> data, ReduceOp op) = 0;

  // recv [size · send.size()] ← the ranks' `send` concatenated in rank order.
  virtual absl::Status AllGather(std::span<const float> send, std::span<float> recv) = 0;
  virtual absl::Status AllGather(std::span<const double> send, std::span<double> recv) = 0;

  // A group of point-to-point transfers (ncclGroupStart; ncclSend/ncclRecv...; ncclGroupEnd):
  // every rank calls it, possibly with empty lists; a send to oneself is a copy. Returns when
  // this rank's receives are complete and its send buffers may be reused.
  virtual absl::Status Exchange(std::span<const SendSpec> sends,
                                std::span<const RecvSpec> recvs) = 0;

  virtual absl::Status Barrier() = 0;

  // Marks the sub-group failed with `reason`: waiting and future collectives of every rank
  // return an error that carries it. Idempotent (the first reason is kept); never blocks.
  virtual void Abort(const absl::Status& reason) = 0;
};

}  // namespace evo2
