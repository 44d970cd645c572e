// One rank's share of the Evo 2 forward pass in a TP × CP engine group (docs/parallelism.md).
// The same steps as the CPU backend's CpuModel::Forward (docs/spec/model.md §5–8), on this
// rank's rows (its zigzag chunks) and its TP shard of channels/heads/MLP width/vocabulary, with
// the collectives placed where Megatron places them:
//   embedding          vocab-parallel lookup, all-reduce over TP
//   Hyena mixer        column-parallel projections → featurizer (CP halo 2) → inner filter
//                      (hcs halo 6, hcm halo 127, hcl state scan) → gate → row-parallel output,
//                      one all-reduce over TP
//   attention mixer    heads split; rotary at absolute positions; K/V all-gather over CP;
//                      row-parallel output, one all-reduce over TP
//   MLP                l1/l2 column-, l3 row-parallel, one all-reduce over TP
//   head               vocab-parallel logits + parallel log-softmax (vocab_parallel_head.h)
#pragma once

#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "cpu/cpu_weights.h"
#include "evo2/communicator.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::parallel {

// What a rank keeps between forwards: its thread pool and rotary tables.
struct RankState {
  int tp_rank = 0;
  int cp_rank = 0;
  const cpu::Weights* weights = nullptr;  // this TP rank's shard (shard_weights.h)
  std::unique_ptr<ops::ThreadPool> pool;
  std::map<std::vector<float>, ops::RotaryTable> rotary;  // by inv_freq, grown as needed
};

// Requested activations by tap (ForwardOptions::layers parsed against the config).
using LayerTaps = std::vector<std::pair<LayerTap, std::string>>;

// Runs the forward for `tokens` on one rank. `result` is shared by all ranks of the replica and
// already sized by the caller (log_probs [S-1], logits [S, V], hidden/layers [S, H] each); each
// rank writes only its own positions (and, for logits, its own vocabulary columns), so no two
// ranks write the same element.
absl::Status RankForward(const ModelConfig& config, RankState& rank, Communicator& tp,
                         Communicator& cp, std::span<const int32_t> tokens,
                         const ForwardOptions& options, const LayerTaps& taps,
                         ForwardResult& result);

}  // namespace evo2::parallel
