// One rank of a CUDA engine group and its forward pass (docs/parallelism.md): the steps of
// cuda/cuda_forward.cc (docs/spec/model.md §5–8) on the rank's rows (its zigzag chunks) and its
// TP shard of channels, heads, MLP rows and vocabulary, with the collectives where
// parallel/rank_forward.cc (the CPU group) puts them:
//   embedding        masked lookup in the rank's vocabulary rows, all-reduce over TP
//   Hyena mixer      column-parallel projections → featurizer (CP halo 2) → hcs (halo 6) /
//                    hcm (halo 127) / hcl (zero-state chunks, end states all-gathered over CP,
//                    fold, rank-16 correction) → gate → row-parallel out-projection
//   attention mixer  the rank's heads; CP > 1: rotary on the rank's rows at their absolute
//                    positions, only K and V all-gathered over CP (a head group at a time,
//                    kv_gather_attention.h), each query chunk at its offset against the whole K/V
//   out-projections  row-parallel into the replicated fp32 residual stream: TP rank 0 adds
//                    x + W₀·o₀ (β = 1), the others write W_r·o_r (β = 0), one all-reduce sums
//                    them, so x stays bit-identical on every TP rank and biases are added once
//                    (the next RMSNorm folds the bias in, as on one GPU)
//   MLP              l1/l2 column-, l3 row-parallel, the same β trick and one all-reduce
//   FP8 (--fp8, --full-fp8) the linears with FP8 copies run the FP8 GEMM; a row-parallel one's
//                    per-token input scales come from the row amaxes max-gathered over TP
//   head             the rank's vocabulary columns; per position (log-sum-exp, target logit)
//                    all-gathered over TP and combined on the host in double:
//                    lp = Σ_r tgt_r − logsumexp_r(lse_r); full logits only when asked.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "cuda/cuda_weights.h"
#include "cuda/device_communicator.h"
#include "cuda/engine_group/rank_buffers.h"
#include "cuda/fp8_gemm.h"
#include "cuda/gemm.h"
#include "evo2/config.h"

namespace evo2::cuda {

// Where a rank writes its results: host arrays at natural positions, shared by the ranks of a
// replica, each writing only its own positions (and, for logits, its own vocabulary columns).
struct RankOutputs {
  float* log_probs = nullptr;    // [S−1]; TP rank 0
  float* logits = nullptr;       // [S, V]; every TP rank its columns
  std::map<int, float*> hidden;  // block (−1 = embedding) → [S, H]; TP rank 0
  float* final_norm = nullptr;   // [S, H]; TP rank 0
  bool head = true;              // false: stop after the last block
};

// A test hook: rank `rank` fails with INTERNAL before block `block` (−1: never).
struct InjectedFailure {
  int rank = -1;
  int block = -1;
};

class CudaRank {
 public:
  ~CudaRank();
  // A stream and cuBLAS handles on `device`; `weights` (the rank's TP shard, on `device`) outlive
  // it.
  static absl::StatusOr<std::unique_ptr<CudaRank>> Create(int device, int tp_rank, int cp_rank,
                                                          const DeviceWeights* weights);

  // One record through this rank (all ranks of the replica call it concurrently, each on its
  // own host thread). Waits for its stream before returning.
  absl::Status Forward(const ModelConfig& config, DeviceCommunicator& tp, DeviceCommunicator& cp,
                       std::span<const int32_t> tokens, const std::atomic<bool>* cancelled,
                       const InjectedFailure& failure, const RankOutputs& out);

  int device() const { return device_; }
  int tp_rank() const { return tp_rank_; }
  int cp_rank() const { return cp_rank_; }
  cudaStream_t stream() const { return stream_; }
  size_t device_bytes() const { return buffers_.bytes() + gemm_->workspace_bytes(); }
  // The workspace plan of the last Forward (rank_buffers.h).
  const RankWorkspacePlan& workspace_plan() const { return buffers_.plan(); }
  // Device bytes of the buffers the last Forward grew (a larger record replaces them).
  size_t buffer_bytes() const { return buffers_.bytes(); }
  // The buffers' shape for a record split by `split` over `tp` ranks: what Forward allocates, so
  // admission control can ask for a length without running it.
  RankShape ShapeFor(const ModelConfig& config, const parallel::SequenceSplit& split,
                     int tp) const;

 private:
  CudaRank(int device, int tp_rank, int cp_rank, const DeviceWeights* weights)
      : device_(device), tp_rank_(tp_rank), cp_rank_(cp_rank), weights_(weights) {}
  template <typename T>
  absl::Status ForwardTyped(const ModelConfig& config, DeviceCommunicator& tp,
                            DeviceCommunicator& cp, std::span<const int32_t> tokens,
                            const std::atomic<bool>* cancelled, const InjectedFailure& failure,
                            const RankOutputs& out);

  int device_, tp_rank_, cp_rank_;
  const DeviceWeights* weights_;
  int64_t kv_heads_per_gather_ = 0;  // EVO2_CP_KV_HEADS_PER_GATHER; 0 = as many as fit
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<GemmRunner> gemm_;
  std::unique_ptr<Fp8Gemm> fp8_gemm_;  // when the weights have FP8 copies (made at first Forward)
  RankBuffers buffers_;
};

}  // namespace evo2::cuda
