// The decode step of every CUDA decoder as a captured CUDA graph per (B, KV capacity)
// (docs/spec/model.md §12, docs/adr/0006): the first step of a shape runs eagerly (it loads the
// kernels a capture cannot load), the second is captured and replayed from then on. A step of a
// 7B model is a few hundred launches of a few µs each; replaying them as one graph removes the
// host's per-launch cost. EVO2_CUDA_DECODE_GRAPHS=0 runs every step eagerly (A/B, debugging).
//
// A graph holds raw device pointers: the decoder passes a version of every buffer the step
// touches, and a new version drops every graph.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "cuda/cuda_graph.h"

namespace evo2::cuda {

// Versions of the buffer groups a step's graph points into (state, step buffers, inputs).
using BufferVersions = std::array<uint64_t, 3>;

class DecodeStepGraphs {
 public:
  DecodeStepGraphs();

  // Runs one step on `stream`: `enqueue` launches it (eagerly, or inside a capture). `key` is
  // (B, KV capacity); `buffers` changes whenever a buffer the step uses moved.
  // *programmatic says whether `enqueue` launches programmatic dependents
  // (kernels/dependent_launch.cuh); a driver that cannot capture them gets it cleared and the
  // step is captured again without them.
  absl::Status Run(const BufferVersions& buffers, std::pair<int64_t, int64_t> key,
                   cudaStream_t stream, const std::function<absl::Status()>& enqueue,
                   bool* programmatic);

  bool enabled() const { return enabled_; }
  // Steps replayed from a captured graph so far (benchmarks and tests).
  int64_t replayed() const { return replayed_; }
  // Why steps run eagerly although graphs were on (a capture failed), or why they run without
  // programmatic launches; empty otherwise.
  const std::string& error() const { return error_; }

 private:
  bool enabled_ = true;
  BufferVersions versions_{};
  std::map<std::pair<int64_t, int64_t>, CudaGraphExec> graphs_;
  std::map<std::pair<int64_t, int64_t>, bool> warmed_;
  int64_t replayed_ = 0;
  std::string error_;
};

}  // namespace evo2::cuda
