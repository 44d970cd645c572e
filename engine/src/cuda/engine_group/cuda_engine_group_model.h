// An engine group on the cuda backend (docs/parallelism.md §7): TP × CP GPU ranks per replica and
// DP replicas in one process, the same decomposition as the CPU group (parallel/
// engine_group_model.h) with each rank a CudaRank (its own device weights shard, stream, cuBLAS
// handles and scratch) driven by a host thread, talking through DeviceCommunicators.
//
//   Forward        one record on replica 0.
//   ForwardBatch   records spread over the DP replicas (record i on replica i mod DP), the
//                  replicas running at the same time; results in input order.
//
// Failure: a rank that fails (bad input, cancellation, a CUDA or collective error) aborts its
// replica's communicators, so every other rank returns at its next collective instead of waiting;
// the call returns the failing rank's own error naming the rank, and the replica builds fresh
// communicators for the next call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cuda/cuda_weights.h"
#include "cuda/device_communicator.h"
#include "cuda/engine_group/cuda_rank.h"
#include "cuda/engine_group/rank_placement.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "parallel/group_layout.h"

namespace evo2::cuda {

// FP8 (--fp8 / --full-fp8, docs/spec/fp8.md) for a group: every shard's FP8 copies get the whole
// tensor's per-tensor scale (the shards' amaxes, max-combined once at load) unless the checkpoint
// stores one (`stored`: Checkpoint::fp8_scales).
struct GroupFp8Load {
  Fp8Mode mode = Fp8Mode::kOff;
  const std::map<std::string, StoredFp8Scales>* stored = nullptr;
};

class CudaEngineGroupModel final : public Model {
 public:
  // The TP rank's weights on the current device (the factory is called with it set).
  using WeightsFactory = std::function<absl::StatusOr<DeviceWeights>(TensorParallelShard)>;
  // The communicators of one replica whose ranks (index tp_rank + TP·cp_rank) are on `devices`.
  using GroupFactory =
      std::function<absl::StatusOr<std::unique_ptr<DeviceGroup>>(std::span<const int> devices)>;

  static absl::StatusOr<std::unique_ptr<CudaEngineGroupModel>> Create(
      ModelConfig config, parallel::GroupLayout layout, GroupPlacement placement,
      const WeightsFactory& weights, GroupFactory groups, GroupFp8Load fp8 = {});
  ~CudaEngineGroupModel() override;

  const ModelConfig& config() const override { return config_; }
  std::string backend_name() const override;
  std::optional<size_t> device_memory_bytes() const override;
  // Admission control (evo2/record_capacity.h), per GPU of the group: the rank buffers one record
  // needs on the GPU that holds the most ranks (every rank of every replica keeps its own, and
  // the replicas run at once), and the least any GPU of the group could give them now.
  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override;
  std::optional<int64_t> FreeWorkingMemoryBytes() const override;
  const parallel::GroupLayout& layout() const { return layout_; }
  const GroupPlacement& placement() const { return placement_; }

  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;
  absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) override;

  // Tests: the next calls fail on rank `failure.rank` (of every replica) before block
  // `failure.block`; {-1, -1} turns it off.
  void InjectFailureForTesting(InjectedFailure failure) { failure_ = failure; }

 private:
  struct Replica {
    std::vector<int> devices;  // [TP·CP] by rank index
    std::vector<std::unique_ptr<CudaRank>> ranks;
    std::unique_ptr<DeviceGroup> group;  // made at load; null after a failure until the next call
  };
  CudaEngineGroupModel(ModelConfig config, parallel::GroupLayout layout, GroupPlacement placement,
                       GroupFactory groups)
      : config_(std::move(config)),
        layout_(layout),
        placement_(std::move(placement)),
        groups_(std::move(groups)) {}
  absl::Status AddFp8Copies(const GroupFp8Load& fp8);
  absl::StatusOr<ForwardResult> RunReplica(Replica& replica, std::span<const int32_t> tokens,
                                           const ForwardOptions& options);

  ModelConfig config_;
  parallel::GroupLayout layout_;
  GroupPlacement placement_;
  GroupFactory groups_;
  InjectedFailure failure_;
  DType act_dtype_ = DType::kBFloat16;
  Fp8Mode fp8_ = Fp8Mode::kOff;
  // (device, tp_rank) → that shard on that device; shared by the CP ranks and the replicas there.
  // Declared before replicas_ so that it outlives the ranks reading it.
  std::map<std::pair<int, int>, std::unique_ptr<DeviceWeights>> weights_;
  std::vector<Replica> replicas_;  // [DP]
};

}  // namespace evo2::cuda
