// One device pass of a GPU model (Run() of every cuda-backend family's model): what goes in,
// where results go. A plain struct, so host-side code (record_batch.h) builds it without CUDA.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>

#include "absl/status/status.h"
#include "evo2/config.h"

namespace evo2::cuda {

class StageTimer;  // stage_timer.h

// A block's device intermediates, shown to RunRequest::block_observer after the block's mixer
// and before its out-projection (the cached-state decoder derives each block's state from them).
struct BlockIntermediates {
  int block = 0;
  BlockKind kind = BlockKind::kHcs;
  const void* proj = nullptr;  // Hyena: [batch, seq, 3H] act, the input projection P
  const void* a = nullptr;     // Hyena: [batch, seq, H] act, k ⊙ v after the featurizer
  const void* k = nullptr;     // attention: [batch, heads, seq, d] act, rotated keys
  const void* v = nullptr;     // attention: [batch, heads, seq, d] act
  // Grouped-query attention (Llama): k, v hold kv_heads·kv_repeat heads, each KV head repeated
  // kv_repeat times in a row (> 1 where the forward repeated them for cuDNN).
  int64_t kv_heads = 0;
  int64_t kv_repeat = 1;
  int64_t kv_head_dim = 0;  // columns per head in k, v (> d where widened with zeros; 0: d)
  // Mamba-2 (NemotronH), shown before the scan: the in-projection z ‖ xBC ‖ dt
  // [batch, seq, mamba_proj_ld] act and the conv + SiLU output x̂ ‖ B ‖ C [batch, seq, C] act.
  const void* mamba_proj = nullptr;
  int64_t mamba_proj_ld = 0;
  const void* mamba_conv = nullptr;
};

// One batched pass over `batch` sequences of `seq` tokens each (right-padded by the caller).
struct RunRequest {
  int64_t batch = 0, seq = 0;
  // Host inputs: copied to the workspace. [batch·seq] each; target -1 = no log-prob at that row.
  const int32_t* tokens_host = nullptr;
  const int32_t* targets_host = nullptr;  // nullptr: no log-probs
  bool tokens_on_device = false;          // tokens/targets already in the workspace (benchmark)
  float* log_probs_host = nullptr;        // [batch·seq] or nullptr (left on the device)
  float* logits_host = nullptr;           // [batch·seq, vocab] or nullptr
  bool skip_head = false;                 // stop after the last block (hidden states only)
  std::map<int, float*> hidden_host;      // block index (-1 = embedding) -> [batch·seq, H]
  float* final_norm_host = nullptr;       // [batch·seq, H] or nullptr
  StageTimer* timer = nullptr;            // benchmark profile: per-stage events
  // Checked before each block's launches (ForwardOptions::cancelled). While set to a flag, the
  // host waits for block i-2 to finish before launching block i: the device always has the
  // next block queued, and a cancel takes effect after at most two blocks of device time.
  const std::atomic<bool>* cancelled = nullptr;
  // Called in block order on the host while the block's launches are queued: work it enqueues
  // on the model's stream reads the intermediates before the forward reuses their buffers.
  std::function<absl::Status(const BlockIntermediates&)> block_observer;
  // The head runs on each sequence's last row only: logits_host gets [batch, vocab] (prefill).
  bool head_last_rows_only = false;
};

}  // namespace evo2::cuda
