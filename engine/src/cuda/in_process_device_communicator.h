// The in-process DeviceCommunicator (cuda/device_communicator.h): the ranks are host threads of
// one process, each with its own stream, whose buffers live on one GPU (or on several with peer
// access). It lets a single GPU run, and prove, a TP × CP decomposition of the CUDA backend.
//
// A collective is two host arrivals of all ranks (parallel/host_rendezvous.h); the host threads
// only wait for each other, never for the device:
//   1. each rank records a "ready" event on its stream and posts it with its buffer pointers;
//      after arrival 1 each rank's stream waits for the peers' "ready" events and reads the
//      peers' buffers (all-reduce: a reduction kernel over the rank's 1/N slice, in rank order,
//      into a private scratch; all-gather / exchange: device-to-device copies), then records a
//      "done" event;
//   2. after arrival 2 each rank's stream waits for the peers' "done" events, so nothing later
//      on it can overwrite a buffer a peer is still reading; an all-reduce then copies every
//      rank's reduced slice from the peers' scratch into its own buffer (a reduce-scatter
//      followed by an all-gather: each element is summed once, so every rank holds the same
//      bits, equal to the host's rank-order fp32 sum).
// A peer's scratch is overwritten only after its stream has waited for every rank's next
// "ready" event, which comes after that rank's copies, so the scratch needs no third arrival.
// Every event a stream waits for has been recorded before the wait is enqueued: the device can
// never deadlock, whatever the host threads do.
//
// As with NCCL, the receive buffers of an Exchange must not overlap its send buffers (a peer may
// still be reading a send while this rank's receive lands).
//
// Failure: Abort, a timeout in arrival 1 (DEADLINE_EXCEEDED naming the waiting rank and how many
// never arrived) and a mismatched collective (kind, size, unmatched exchange message) fail the
// sub-group on every rank, as the host in-process communicator does.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/device_communicator.h"

namespace evo2::cuda {

// One sub-group of devices.size() ranks, element r for rank r, whose buffers and streams are on
// devices[r] (CUDA ordinals; equal ordinals are the single-GPU case). Distinct devices need peer
// access between every pair (enabled here; an error when the hardware has none). A rank waiting
// longer than `timeout` for the others fails the sub-group with DEADLINE_EXCEEDED.
absl::StatusOr<std::vector<std::unique_ptr<DeviceCommunicator>>> MakeInProcessDeviceCommunicators(
    const std::vector<int>& devices, std::chrono::milliseconds timeout = std::chrono::minutes(30));

// A TP × CP group of in-process ranks all on `device`: tp[r], cp[r] for global rank
// r = tp_rank + TP·cp_rank (DeviceGroup).
absl::StatusOr<DeviceGroup> MakeInProcessDeviceGroup(
    int device, int tp, int cp, std::chrono::milliseconds timeout = std::chrono::minutes(30));

// The same on `devices` (devices.size() == tp · cp, rank r on devices[r]).
absl::StatusOr<DeviceGroup> MakeInProcessDeviceGroup(
    const std::vector<int>& devices, int tp, int cp,
    std::chrono::milliseconds timeout = std::chrono::minutes(30));

}  // namespace evo2::cuda
