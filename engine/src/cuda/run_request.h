// One batched device pass of a cuda-backend model (every family): `batch` sequences of `seq`
// tokens each, right-padded by the caller (cuda/forward_records.h), and where its results go.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>

#include "cuda/stage_timer.h"

namespace evo2::cuda {

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
};

}  // namespace evo2::cuda
