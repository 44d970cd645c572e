// Causal attention under context parallelism (docs/parallelism.md §4). Zigzag placement
// (sequence_split.h) balances the causal work; each rank all-gathers the rotated keys and values
// of the whole sequence over the CP group (as Llama 3's context parallelism does) and computes
// exact attention for its own query chunks against keys 0..q. Correct and balanced; a ring with
// log-sum-exp merging would overlap the transfer and hold 2/CP of the keys instead of all.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "evo2/communicator.h"
#include "ops/rotary.h"
#include "ops/thread_pool.h"
#include "parallel/sequence_split.h"

namespace evo2::parallel {

// qkv [L, 3·heads·d] in the checkpoint's per-head column order (ops/attention.h), rotated in
// place; out [L, heads·d]. `rotary` covers split.padded_tokens() positions.
absl::Status CausalAttentionContextParallel(const SequenceSplit& split, Communicator& cp,
                                            float* qkv, int64_t heads, int64_t d,
                                            const ops::RotaryTable& rotary, float* out,
                                            ops::ThreadPool& pool);

}  // namespace evo2::parallel
