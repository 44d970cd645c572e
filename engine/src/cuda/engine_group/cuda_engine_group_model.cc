#include "cuda/engine_group/cuda_engine_group_model.h"

#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cuda/record_batch.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "parallel/replica_spread.h"

namespace evo2::cuda {

absl::StatusOr<std::unique_ptr<CudaEngineGroupModel>> CudaEngineGroupModel::Create(
    ModelConfig config, parallel::GroupLayout layout, GroupPlacement placement,
    const WeightsFactory& weights, GroupFactory groups, GroupFp8Load fp8) {
  const int per_replica = layout.ranks_per_replica();
  if (static_cast<int>(placement.device.size()) != layout.devices())
    return absl::InternalError(
        absl::StrCat("placement of ", placement.device.size(), " ranks for ", layout.ToString()));
  std::unique_ptr<CudaEngineGroupModel> m(
      new CudaEngineGroupModel(std::move(config), layout, std::move(placement), std::move(groups)));
  m->replicas_.resize(static_cast<size_t>(layout.dp));
  for (int rep = 0; rep < layout.dp; ++rep) {
    Replica& replica = m->replicas_[static_cast<size_t>(rep)];
    for (int r = 0; r < per_replica; ++r) {
      const int device = m->placement_.device[static_cast<size_t>(rep * per_replica + r)];
      const int tp_rank = r % layout.tp, cp_rank = r / layout.tp;
      auto& shard = m->weights_[{device, tp_rank}];
      if (shard == nullptr) {
        CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
        auto w = weights({.size = layout.tp, .rank = tp_rank});
        if (!w.ok())
          return absl::Status(w.status().code(),
                              absl::StrCat("weights of TP rank ", tp_rank, " on GPU ", device, ": ",
                                           w.status().message()));
        shard = std::make_unique<DeviceWeights>(std::move(*w));
        m->act_dtype_ = shard->act_dtype;
      }
      ASSIGN_OR_RETURN(auto rank, CudaRank::Create(device, tp_rank, cp_rank, shard.get()));
      replica.devices.push_back(device);
      replica.ranks.push_back(std::move(rank));
    }
    // The communicators once at load (NCCL initialisation is slow); again only after a failure.
    ASSIGN_OR_RETURN(replica.group, m->groups_(replica.devices));
  }
  RETURN_IF_ERROR(m->AddFp8Copies(fp8));
  return m;
}

absl::Status CudaEngineGroupModel::AddFp8Copies(const GroupFp8Load& fp8) {
  fp8_ = fp8.mode;
  if (fp8.mode == Fp8Mode::kOff) return absl::OkStatus();
  static const std::map<std::string, StoredFp8Scales> kNone;
  const auto& stored = fp8.stored != nullptr ? *fp8.stored : kNone;
  // The per-tensor weight scale is the WHOLE tensor's (docs/spec/fp8.md): each shard's max |w|
  // per linear, then the max over the TP shards (exact), so the codes equal one GPU's whatever
  // TP is. All shards live in this process, so the exchange is this one host max at load.
  auto on_device = [](int device) -> absl::StatusOr<cudaStream_t> {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
    cudaStream_t s = nullptr;
    CUDA_RETURN_IF_ERROR(cudaStreamCreate(&s));
    return s;
  };
  std::vector<float> whole;
  for (const auto& [key, w] : weights_) {
    ASSIGN_OR_RETURN(cudaStream_t s, on_device(key.first));
    auto amax = w->Fp8TensorAmaxes(config_, fp8.mode, {.size = layout_.tp, .rank = key.second}, s);
    cudaStreamDestroy(s);
    RETURN_IF_ERROR(amax.status());
    if (whole.empty()) whole.assign(amax->size(), 0.0f);
    if (amax->size() != whole.size())
      return absl::InternalError("FP8: the TP shards list different numbers of linears");
    for (size_t j = 0; j < whole.size(); ++j) whole[j] = std::fmax(whole[j], (*amax)[j]);
  }
  for (auto& [key, w] : weights_) {
    ASSIGN_OR_RETURN(cudaStream_t s, on_device(key.first));
    const absl::Status st = w->AddFp8Copies(config_, fp8.mode, stored, s,
                                            {.size = layout_.tp, .rank = key.second}, &whole);
    cudaStreamDestroy(s);
    if (!st.ok())
      return absl::Status(st.code(), absl::StrCat("FP8 copies of TP rank ", key.second, " on GPU ",
                                                  key.first, ": ", st.message()));
  }
  return absl::OkStatus();
}

CudaEngineGroupModel::~CudaEngineGroupModel() {
  for (Replica& r : replicas_) {
    r.group.reset();  // communicators before the ranks' streams
    r.ranks.clear();
  }
}

std::string CudaEngineGroupModel::backend_name() const {
  std::string name = act_dtype_ == DType::kFloat32 ? "cuda-fp32" : "cuda-bf16";
  if (fp8_ != Fp8Mode::kOff) absl::StrAppend(&name, "+fp8-", Fp8ModeName(fp8_));
  return name;
}

std::optional<size_t> CudaEngineGroupModel::device_memory_bytes() const {
  size_t bytes = 0;
  for (const auto& [key, w] : weights_) bytes += w->bytes;
  for (const Replica& r : replicas_)
    for (const auto& rank : r.ranks) bytes += rank->device_bytes();
  return bytes;
}

absl::StatusOr<ForwardResult> CudaEngineGroupModel::Forward(std::span<const int32_t> tokens,
                                                            const ForwardOptions& options) {
  return RunReplica(replicas_[0], tokens, options);
}

absl::StatusOr<std::vector<ForwardResult>> CudaEngineGroupModel::ForwardBatch(
    std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options) {
  return parallel::SpreadOverReplicas(replicas_.size(), sequences.size(), [&](size_t rep, size_t i) {
    return RunReplica(replicas_[rep], sequences[i], options);
  });
}

absl::StatusOr<ForwardResult> CudaEngineGroupModel::RunReplica(Replica& replica,
                                                               std::span<const int32_t> tokens,
                                                               const ForwardOptions& options) {
  const int64_t S = static_cast<int64_t>(tokens.size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  RETURN_IF_ERROR(CheckForwardTokens(tokens, V));
  ASSIGN_OR_RETURN(const CapturePlan plan, PlanCaptures(config_, options, "cuda engine group"));
  if (replica.group == nullptr) {
    ASSIGN_OR_RETURN(replica.group, groups_(replica.devices));
  }
  DeviceGroup& group = *replica.group;

  // Host results at natural positions; every rank writes only its own part.
  ForwardResult result;
  std::map<int, std::vector<float>> by_block;  // block (−1 = embedding) → [S, H]
  std::vector<float> final_norm;
  RankOutputs out;
  for (int blk : plan.blocks) {
    by_block[blk].assign(static_cast<size_t>(S * H), 0.f);
    out.hidden[blk] = by_block[blk].data();
  }
  if (!plan.final_norm_names.empty()) {
    final_norm.assign(static_cast<size_t>(S * H), 0.f);
    out.final_norm = final_norm.data();
  }
  if (options.log_probs) {
    result.log_probs.assign(static_cast<size_t>(S - 1), 0.f);
    out.log_probs = result.log_probs.data();
  }
  if (options.logits) {
    result.logits.assign(static_cast<size_t>(S * V), 0.f);
    out.logits = result.logits.data();
  }
  out.head = options.log_probs || options.logits || out.final_norm != nullptr;

  const size_t n = replica.ranks.size();
  std::vector<absl::Status> status(n);
  std::atomic<int> first_failed{-1};
  const InjectedFailure failure = failure_;
  auto abort_all = [&](const absl::Status& why) {
    for (size_t r = 0; r < n; ++r) {
      group.tp[r]->Abort(why);
      group.cp[r]->Abort(why);
    }
  };
  std::vector<std::thread> threads;
  for (size_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      CudaRank& rank = *replica.ranks[r];
      status[r] = rank.Forward(config_, *group.tp[r], *group.cp[r], tokens, options.cancelled,
                               failure, out);
      if (!status[r].ok()) {
        int none = -1;
        first_failed.compare_exchange_strong(none, static_cast<int>(r));
        abort_all(status[r]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const int failed = first_failed.load();
  if (failed >= 0) {
    replica.group.reset();  // a failed communicator stays failed: fresh ones next call
    const CudaRank& rank = *replica.ranks[static_cast<size_t>(failed)];
    const absl::Status& s = status[static_cast<size_t>(failed)];
    return absl::Status(s.code(),
                        absl::StrCat("rank ", failed, " (TP rank ", rank.tp_rank(), ", CP rank ",
                                     rank.cp_rank(), ", GPU ", rank.device(), "): ", s.message()));
  }
  for (int b : options.hidden_after_blocks) result.hidden[b] = by_block[b];
  for (const auto& [blk, name] : plan.names_by_block) result.layers[name] = by_block[blk];
  for (const std::string& name : plan.final_norm_names) result.layers[name] = final_norm;
  return result;
}

}  // namespace evo2::cuda
