// The NCCL DeviceCommunicator (cuda/device_communicator.h): one rank per GPU, every GPU of the
// group driven by one process (a host thread and a stream per rank), docs/parallelism.md §6.
//
//   creation     once at load: for each TP and CP sub-group, ncclGetUniqueId and one
//                ncclCommInitRankConfig per member inside ncclGroupStart/End (one thread may
//                initialise all ranks of a process that way). Sub-groups are created directly
//                rather than split from a world communicator: nothing needs the world one.
//   collectives  AllReduceSum → ncclAllReduce(ncclFloat32, ncclSum) in place; AllGather →
//                ncclAllGather of bytes; Exchange → ncclGroupStart, ncclSend / ncclRecv in the
//                callers' order (NCCL pairs a peer's messages by order; tags and sizes cannot be
//                checked), ncclGroupEnd. Zero-byte transfers and empty lists issue nothing.
//   no hang      communicators are non-blocking (ncclConfig_t.blocking = 0): a call that
//                answers ncclInProgress is polled with ncclCommGetAsyncError. The group shares
//                one failure: Abort(reason), an NCCL error, or a collective still pending
//                `timeout` after it was enqueued (Check) fails it, and each rank's next
//                collective or Check() on either of its communicators calls ncclCommAbort on
//                both (TP and CP), from the rank's own thread, which makes its spinning kernels
//                exit. A rank waits for its stream with
//                WaitForStream (cuda/communicator_stream_wait.h), never cudaStreamSynchronize,
//                so a peer that never joins surfaces as DEADLINE_EXCEEDED.
//   teardown     the last communicator of a group to go finalises and destroys every NCCL
//                communicator of the group (or aborts them, after a failure).
//
// NCCL refuses two ranks on one GPU: devices must be distinct. A mismatched collective (kind or
// size) is undefined under NCCL; it shows up as a timeout at best. The in-process communicator
// (cuda/in_process_device_communicator.h) checks those and is the one to debug a decomposition
// with.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/device_communicator.h"

namespace evo2::cuda {

// A TP × CP group over `devices` (distinct CUDA ordinals, rank r = tp_rank + TP·cp_rank on
// devices[r]); `timeout` bounds initialisation and how long a collective may stay pending.
absl::StatusOr<DeviceGroup> MakeNcclDeviceGroup(
    const std::vector<int>& devices, int tp, int cp,
    std::chrono::milliseconds timeout = std::chrono::minutes(30));

// NCCL's version as "2.28.9" (the library loaded at run time).
std::string NcclVersion();

}  // namespace evo2::cuda
