// The slot for the NCCL Communicator (evo2/communicator.h) of the CUDA engine group. NOT BUILT
// YET: nothing includes this header and no .cc defines it; the CUDA engine group adds
// nccl_communicator.cc to engine/src/cuda (compiled with evo2_nccl, cmake/Cuda.cmake) together
// with its GPU tests. The design it must follow (docs/parallelism.md §6):
//
//   creation     one process drives every GPU of the group: ncclCommInitAll over the group's
//                devices, then ncclCommSplit into the TP sub-groups (same CP rank) and CP
//                sub-groups (same TP rank), once at load; one stream per rank.
//   collectives  AllReduce → ncclAllReduce (ncclSum / ncclMax; float, double, bf16),
//                AllGather → ncclAllGather, Exchange → ncclGroupStart + ncclSend/ncclRecv in
//                the callers' tag order + ncclGroupEnd (NCCL pairs a peer's messages by order),
//                Barrier → an all-reduce of one value. Buffers are device pointers.
//   no hang      communicators created non-blocking (ncclConfig_t.blocking = 0); every wait
//                polls ncclCommGetAsyncError and the abort flag; Abort(status), a timeout or an
//                async error calls ncclCommAbort on every communicator of the group, so the
//                other ranks' calls return; the job fails with the first rank's error and the
//                group is rebuilt before the next job.
#pragma once

#if defined(EVO2_WITH_NCCL)

#include <chrono>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/communicator.h"

namespace evo2::parallel {

struct NcclGroupOptions {
  std::vector<int> devices;  // CUDA device ordinals, rank r on devices[r]
  int tp = 1;
  int cp = 1;
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
};

// The TP and CP communicators of every rank: tp[r], cp[r] for global rank r = tp_rank + TP·cp_rank.
struct NcclGroup {
  std::vector<std::unique_ptr<Communicator>> tp;
  std::vector<std::unique_ptr<Communicator>> cp;
};

absl::StatusOr<NcclGroup> MakeNcclGroup(const NcclGroupOptions& options);

}  // namespace evo2::parallel

#endif  // EVO2_WITH_NCCL
