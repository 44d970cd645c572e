// The shape of an engine group: TP × CP ranks per replica, DP replicas (docs/parallelism.md).
// Megatron's rules (docs/spec/predict-cli.md §3.4): TP divides the hidden size, the attention
// heads (= KV heads in Evo 2), the MLP width, the vocabulary and every Hyena filter-group count,
// so that each rank holds whole heads, whole channel triples and whole filter groups.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "evo2/config.h"

namespace evo2::parallel {

// Ranks one CPU process simulates at most (each rank is a thread with its own scratch).
inline constexpr int kMaxCpuRanks = 64;

struct GroupLayout {
  int tp = 1;  // tensor-parallel ranks
  int cp = 1;  // context-parallel ranks
  int dp = 1;  // data-parallel replicas
  int ranks_per_replica() const { return tp * cp; }
  int devices() const { return tp * cp * dp; }
  // "TP=2 x CP=2 x DP=1 (4 ranks)"
  std::string ToString() const;
};

// Validates sizes against `config`. `devices` 0 means TP × CP; otherwise it must be a multiple
// of TP × CP and gives devices / (TP × CP) replicas. Errors name the failing dimension and the
// sizes that would work.
absl::StatusOr<GroupLayout> MakeGroupLayout(const ModelConfig& config, int tp, int cp, int devices,
                                            int max_devices = kMaxCpuRanks);

}  // namespace evo2::parallel
