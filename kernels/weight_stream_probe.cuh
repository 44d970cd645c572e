// How fast one CTA per SM can stream weight rows through a ring of shared-memory stages filled
// by bulk async copies (the decode program's pattern, decode_program.cuh), measured without the
// model: the op sizes, row widths and stage counts are the caller's. For the benchmark
// evo2_stream_bench (bench/RESULTS.md), not for inference.
//
// The buffer is read as n_ops consecutive "ops" of op_bytes each; in every op each CTA takes a
// contiguous share of its rows (row_bytes each, at most 16 rows per stage) and 16 consumer warps
// take bf16 dot products of the rows against a fixed input row, as the decode program does.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

enum class StreamProbeMode : int32_t {
  kPlainLoads,   // no ring: a wide grid of 16-byte loads over the whole buffer (the copy rate)
  kRing,         // the ring and the dot products, no synchronisation between CTAs
  kRingBarrier,  // + a grid-wide barrier between ops (as between the program's ops)
  kRingClaimed,  // + rows claimed in stage-sized chunks from a counter per op instead of a
                 //   fixed share per CTA
};

struct StreamProbe {
  const void* w = nullptr;  // [n_ops · op_bytes], 16-byte aligned
  int64_t op_bytes = 0;     // a multiple of row_bytes
  int32_t n_ops = 0;        // ≤ kStreamProbeMaxOps
  int32_t row_bytes = 0;    // a multiple of 16, ≤ one stage
  int32_t stages = 3;       // 2..8: the ring's ~200 KB split into this many stages
  // At most this many stages' copies in flight (0: all of them). Fewer copies in flight than
  // stages leaves landed stages in the ring, which the consumers can take after a pause (a
  // barrier) without waiting for memory.
  int32_t in_flight = 0;
  StreamProbeMode mode = StreamProbeMode::kRing;
  // Device scratch of kStreamProbeCounters u64 (barrier and claim counters); zeroed by the launch.
  unsigned long long* counters = nullptr;
  float* sums = nullptr;  // device [gridDim]: each CTA's sum of its dot products
};

inline constexpr int kStreamProbeMaxOps = 1024;
inline constexpr int kStreamProbeCounters = kStreamProbeMaxOps + 1;

// Checks the probe and runs it once on `stream` (cooperative launch, one CTA per SM).
absl::Status LaunchWeightStreamProbe(const StreamProbe& probe, cudaStream_t stream);

}  // namespace evo2::kernels
