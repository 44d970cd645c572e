// Checks every DeviceCommunicator implementation must pass (cuda/device_communicator.h), shared
// by the in-process and NCCL tests. Each rank is a host thread with its own stream; inputs are
// fresh random values; outputs start poisoned (0xFF bytes, NaN as fp32) so an element nobody
// wrote fails. Stream-ordering bugs are provoked by host callbacks that stall one rank's stream
// (cudaLaunchHostFunc + sleep) before it writes its input, and by poisoning inputs right after
// a collective returns: a collective that reads a peer too early or lets a peer's buffer be
// overwritten too soon gives wrong values.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "cuda/device_group_communicators.h"

namespace evo2::cuda::testing {

bool HaveGpus(int n);

// Runs fn(rank, comm, stream) on one thread per rank (device comm.device(), a fresh
// non-blocking stream), then waits for the stream (at most 60 s: a stream still busy then is a
// DEADLINE_EXCEEDED for that rank, not a hung test); each rank's status (fn's, else the stream's).
using RankFn = std::function<absl::Status(int, DeviceCommunicator&, cudaStream_t)>;
std::vector<absl::Status> RunRanks(DeviceCommunicators& comms, const RankFn& fn);

// Enqueues a host-side stall of `ms` milliseconds on `stream`.
absl::Status StallStream(cudaStream_t stream, int ms);

// `rounds` back-to-back all-reduces of fresh random [count] fp32 in one reused buffer per rank,
// a different rank stalled before writing its input each round. Every rank's result must be
// bit-identical to every other rank's, and within `rel_l2_tolerance` of the host's rank-order fp32
// sum (0: bit-identical to it). Prints max-abs and rel-L2 per round.
void CheckAllReduceSum(DeviceCommunicators& comms, int64_t count, int rounds,
                       double rel_l2_tolerance);

// AllGather of fresh random bytes (separate or in-place send buffers), two rounds with a stalled
// rank and the send buffer poisoned after each collective: exact.
void CheckAllGather(DeviceCommunicators& comms, int64_t bytes_per_rank, bool in_place);

// Exchange of several tagged messages per rank (to the next and previous rank, a send to
// itself, odd sizes), then a round with empty lists everywhere and, with ≥ 3 ranks, one where
// rank 0 has empty lists while the others exchange: exact.
void CheckExchange(DeviceCommunicators& comms);

}  // namespace evo2::cuda::testing
