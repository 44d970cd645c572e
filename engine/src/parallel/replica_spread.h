// Data parallelism over an engine group's replicas (docs/parallelism.md §5), shared by the CPU
// and CUDA engine groups: sequence i runs on replica i mod R, the replicas at the same time (one
// host thread each), results in input order. A replica stops at its first failure; the first
// failed sequence's error is returned, naming the sequence and its replica.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2::parallel {

using RunOnReplica = std::function<absl::StatusOr<ForwardResult>(size_t replica, size_t sequence)>;

absl::StatusOr<std::vector<ForwardResult>> SpreadOverReplicas(size_t replicas, size_t sequences,
                                                              const RunOnReplica& run);

}  // namespace evo2::parallel
