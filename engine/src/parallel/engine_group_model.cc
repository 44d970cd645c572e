#include "parallel/engine_group_model.h"

#include <algorithm>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/working_memory.h"
#include "parallel/in_process_communicator.h"
#include "parallel/replica_spread.h"
#include "parallel/shard_weights.h"

namespace evo2::parallel {

EngineGroupModel::EngineGroupModel(ModelConfig config, cpu::Weights full, GroupLayout layout,
                                   int threads)
    : config_(std::move(config)), layout_(layout) {
  if (layout_.tp == 1) {
    shards_.push_back(std::make_unique<const cpu::Weights>(std::move(full)));
  } else {
    for (int r = 0; r < layout_.tp; ++r) {
      shards_.push_back(
          std::make_unique<const cpu::Weights>(ShardWeights(config_, full, layout_.tp, r)));
    }
  }
  const int total = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  const int per_rank = std::max(1, total / layout_.devices());
  ops::SetBlasThreads(per_rank);  // process-wide (ops/linear.h)
  replicas_.resize(static_cast<size_t>(layout_.dp));
  for (Replica& rep : replicas_) {
    for (int c = 0; c < layout_.cp; ++c) {
      for (int t = 0; t < layout_.tp; ++t) {
        RankState s;
        s.tp_rank = t;
        s.cp_rank = c;
        s.weights = shards_[static_cast<size_t>(t)].get();
        s.pool = std::make_unique<ops::ThreadPool>(per_rank);
        rep.ranks.push_back(std::move(s));
      }
    }
  }
}

int64_t EngineGroupModel::EstimateForwardBytes(int64_t S, const ForwardOptions& options) const {
  // Every rank (all replicas) holds ~L = S/CP rows of 3 [L, H] streams plus [L, 3H/TP + 3H/TP]
  // Hyena scratch, the halo copies, (attention) all keys and values [S, 2H/TP] and a [64, S]
  // score block per thread.
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  const int64_t L = (S + 2 * layout_.cp - 1) / layout_.cp + 1;
  const int64_t threads = replicas_.empty() ? 1 : replicas_[0].ranks[0].pool->size();
  int64_t floats = int64_t{layout_.devices()} * (3 * L * H + 8 * L * H / layout_.tp) +
                   int64_t{layout_.devices()} * 2 * S * H / layout_.tp +
                   int64_t{layout_.devices()} * threads * ops::kAttentionQueryBlock * S;
  if (options.logits) floats += S * V;
  floats +=
      static_cast<int64_t>(options.layers.size() + options.hidden_after_blocks.size()) * S * H;
  return floats * static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<ForwardResult> EngineGroupModel::Forward(std::span<const int32_t> tokens,
                                                        const ForwardOptions& options) {
  return RunReplica(replicas_[0], tokens, options);
}

absl::StatusOr<std::vector<ForwardResult>> EngineGroupModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  return SpreadOverReplicas(replicas_.size(), sequences.size(), [&](size_t rep, size_t i) {
    return RunReplica(replicas_[rep], sequences[i], options);
  });
}

absl::StatusOr<ForwardResult> EngineGroupModel::RunReplica(Replica& replica,
                                                           std::span<const int32_t> tokens,
                                                           const ForwardOptions& options) {
  const int64_t S = static_cast<int64_t>(tokens.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  RETURN_IF_ERROR(CheckForwardTokens(tokens, V));
  RETURN_IF_ERROR(ops::CheckWorkingMemory(S, EstimateForwardBytes(S, options)));
  LayerTaps taps;
  ForwardResult result;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(config_, name));
    taps.emplace_back(tap, name);
    result.layers[name].assign(static_cast<size_t>(S * H), 0.0f);
  }
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config_.num_layers) {
      return absl::OutOfRangeError(absl::StrCat("hidden state after block ", b,
                                                " requested; the model has blocks 0..",
                                                config_.num_layers - 1));
    }
    result.hidden[b].assign(static_cast<size_t>(S * H), 0.0f);
  }
  if (options.log_probs) result.log_probs.assign(static_cast<size_t>(S - 1), 0.0f);
  if (options.logits) result.logits.assign(static_cast<size_t>(S * V), 0.0f);

  // Communicators for this call: one TP group per CP rank, one CP group per TP rank.
  const int tp = layout_.tp, cp = layout_.cp;
  std::vector<std::vector<std::unique_ptr<Communicator>>> tp_groups, cp_groups;
  for (int c = 0; c < cp; ++c) tp_groups.push_back(MakeInProcessCommunicators(tp));
  for (int t = 0; t < tp; ++t) cp_groups.push_back(MakeInProcessCommunicators(cp));
  auto abort_all = [&](const absl::Status& why) {
    for (auto& g : tp_groups) g[0]->Abort(why);
    for (auto& g : cp_groups) g[0]->Abort(why);
  };

  std::vector<absl::Status> status(replica.ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < replica.ranks.size(); ++i) {
    threads.emplace_back([&, i] {
      RankState& rank = replica.ranks[i];
      Communicator& tp_comm =
          *tp_groups[static_cast<size_t>(rank.cp_rank)][static_cast<size_t>(rank.tp_rank)];
      Communicator& cp_comm =
          *cp_groups[static_cast<size_t>(rank.tp_rank)][static_cast<size_t>(rank.cp_rank)];
      status[i] = RankForward(config_, rank, tp_comm, cp_comm, tokens, options, taps, result);
      if (!status[i].ok()) abort_all(status[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  // The first rank's own error, not the "group failed" echoes of the others.
  const absl::Status* first = nullptr;
  for (const absl::Status& s : status) {
    if (s.ok()) continue;
    if (first == nullptr) first = &s;
    if (!absl::StrContains(s.message(), "the group failed")) return s;
  }
  if (first != nullptr) return *first;
  return result;
}

}  // namespace evo2::parallel
