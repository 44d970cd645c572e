// When the cuda backend builds a cuDNN attention plan for a pass of (batch, seq), i.e. when
// cuDNN's fused attention is worth using. Why a policy: a plan build costs 40–80 ms (0.7 s for
// the first in a process) and a plan serves one shape only, while cuDNN saves about half of the
// own kernel's attention time (≈ 560 vs ≈ 265 TFLOP/s on an H200, bench/RESULTS.md). Scoring a
// FASTA file sees many record lengths once each; a benchmark or fixed-window scoring sees one
// shape many times. Rule (mode kAuto), for passes of at least kMinRows tokens:
//   * build on the second pass of a shape (it recurs, so the build will amortise), or
//   * on the first pass already when that one pass saves more than a build costs.
// kAlways builds for every supported shape (tests, A/B runs). Shapes cuDNN refused are never
// tried again. Host-side bookkeeping only: no cuDNN or CUDA here, so it is unit-tested anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

namespace evo2::cuda {

class CudnnPlanPolicy {
 public:
  enum class Mode { kAuto, kAlways };
  static constexpr int64_t kMinRows = 8192;
  // Measured (bench/RESULTS.md, kernels/NOTES.md): own kernel and cuDNN rates, plan build time.
  static constexpr double kOwnFlops = 265e12, kCudnnFlops = 560e12, kPlanBuildSeconds = 0.08;
  static constexpr size_t kMaxTrackedShapes = 4096;

  CudnnPlanPolicy(Mode mode, int attention_layers, int64_t hidden)
      : mode_(mode), attention_layers_(attention_layers), hidden_(hidden) {}

  // Called once per pass of this shape, before it runs: true = use (build if needed) a plan.
  bool ShouldUse(int64_t batch, int64_t seq);
  void MarkRefused(int64_t batch, int64_t seq) { refused_.insert({batch, seq}); }
  // Seconds one pass of this shape saves with cuDNN (causal attention: 2·B·S²·H per layer).
  double PassSavingSeconds(int64_t batch, int64_t seq) const;

 private:
  Mode mode_;
  int attention_layers_;
  int64_t hidden_;
  std::map<std::pair<int64_t, int64_t>, int> passes_;  // shape -> passes seen so far
  std::set<std::pair<int64_t, int64_t>> refused_;
};

}  // namespace evo2::cuda
