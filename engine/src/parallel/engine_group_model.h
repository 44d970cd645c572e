// An engine group on the CPU backend: TP × CP ranks per replica, DP replicas, all in one process
// (docs/parallelism.md). Each rank is a host thread with its own thread pool; the ranks of a
// replica talk through in-process communicators (evo2/communicator.h). Computes the same
// function as the single-rank CpuModel (which stays the reference) up to fp32 rounding.
//
//   Forward        one sequence on replica 0.
//   ForwardBatch   the sequences spread over the DP replicas (sequence i on replica i mod DP),
//                  the replicas running at the same time; results in input order.
//
// OpenBLAS's thread count is process-wide: it is set to the per-rank share of the threads, and
// the ranks' GEMMs run concurrently (OpenBLAS serialises its own thread server between callers).
//
// Failure: a rank that fails (bad input, cancellation, a collective error) aborts its replica's
// communicators, so the other ranks return at their next collective instead of waiting; the
// call returns the failing rank's own error, and the next call starts with fresh communicators.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_weights.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "parallel/group_layout.h"
#include "parallel/rank_forward.h"

namespace evo2::parallel {

class EngineGroupModel final : public Model {
 public:
  // `full` are the CPU backend's fp32 weights; they are cut into TP shards here. `threads` is
  // the total for the process (0 = all cores), divided among the ranks.
  EngineGroupModel(ModelConfig config, cpu::Weights full, GroupLayout layout, int threads);

  const ModelConfig& config() const override { return config_; }
  std::string backend_name() const override { return "cpu-fp32"; }
  const GroupLayout& layout() const { return layout_; }

  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;
  absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) override;

  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override {
    return EstimateForwardBytes(tokens, options);
  }

 private:
  struct Replica {
    std::vector<RankState> ranks;  // index tp_rank + TP · cp_rank
  };
  absl::StatusOr<ForwardResult> RunReplica(Replica& replica, std::span<const int32_t> tokens,
                                           const ForwardOptions& options);
  int64_t EstimateForwardBytes(int64_t S, const ForwardOptions& options) const;

  ModelConfig config_;
  GroupLayout layout_;
  std::vector<std::unique_ptr<const cpu::Weights>> shards_;  // [TP], shared by CP ranks, replicas
  std::vector<Replica> replicas_;                            // [DP]
};

}  // namespace evo2::parallel
