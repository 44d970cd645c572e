// The CPU fp32 reference backend: the Evo 2 forward pass (docs/spec/model.md §5–8) on
// fp32 weights, OpenBLAS GEMMs and a small thread pool for the per-channel/per-row loops.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_weights.h"
#include "cpu/hyena_long_filter_fft.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "ops/rotary.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {

enum class LongFilterMethod {
  kModalRecurrence,  // default (docs/adr/0001-hcl-on-cpu.md)
  kFft,
};

struct CpuOptions {
  int threads = 0;  // 0 = all cores; used for OpenBLAS and the pool
  LongFilterMethod long_filter = LongFilterMethod::kModalRecurrence;
  int64_t mlp_chunk_tokens = 1024;  // positions per MLP chunk (bounds the [chunk, 2I] buffer)
  bool profile = false;             // accumulate wall time per stage (CpuModel::stage_seconds)
  Fp8Mode fp8 = Fp8Mode::kOff;      // which linears have FP8 copies (for the backend's name)
};

// OpenBLAS's thread count is process-wide: the attention stage sets it to 1 while its own
// tasks run in parallel and restores it after, so two CpuModels running at the same time in one
// process stay correct but may slow each other down.
class CpuModel final : public Model {
 public:
  CpuModel(ModelConfig config, Weights weights, CpuOptions options);

  const ModelConfig& config() const override { return config_; }
  // "cpu-fp32", or "cpu-fp32+fp8-<mode>" when FP8 linears are emulated.
  std::string backend_name() const override;
  absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                        const ForwardOptions& options) override;

  // Cached-state decoding on this model (cpu/cpu_decoder.h).
  absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options) override;

  // Called by Forward after each block's mixer with that block's intermediates, for deriving a
  // decode state (cpu/hyena_decode_state.h): Hyena blocks pass P [S, 3H] and a [S, H];
  // attention blocks pass the qkv projection [S, 3H] with q and k rotated, and a = nullptr.
  using MixerObserver =
      std::function<void(int block, const float* proj, const float* a, int64_t S)>;
  void set_mixer_observer(MixerObserver observer) { mixer_observer_ = std::move(observer); }

  // Seconds spent per stage since construction (only when CpuOptions::profile): "projections",
  // "featurizer", "hcs", "hcm", "hcl", "attention", "mlp", "norms", "head", ...
  const std::map<std::string, double>& stage_seconds() const { return stage_seconds_; }

  // Working memory (bytes) a forward of S tokens needs beyond the weights: activations, the
  // Hyena/attention scratch, per-thread score blocks, the MLP chunk, rotary tables, the head
  // and the requested outputs. Forward refuses (RESOURCE_EXHAUSTED) when this exceeds the
  // memory the OS reports available, instead of dying half-way.
  int64_t EstimateForwardBytes(int64_t S, const ForwardOptions& options) const;
  std::optional<int64_t> ForwardWorkingBytes(int64_t tokens,
                                             const ForwardOptions& options) const override {
    return EstimateForwardBytes(tokens, options);
  }

 private:
  struct Captures;  // requested activations, see cpu_model.cc

  // a_ [S, H] -> y_ [S, H] with the block's inner filter (docs/spec/model.md §7 step 5).
  void InnerFilter(const BlockWeights& b, int64_t S);
  void HyenaMixer(const BlockWeights& b, const float* z, int64_t S, float* out);
  void AttentionMixer(const BlockWeights& b, const float* z, int64_t S, float* out);
  const ops::RotaryTable& Rotary(const std::vector<float>& inv_freq, int64_t S);

  ModelConfig config_;
  Weights weights_;
  std::vector<float> fp8_scratch_;  // quantised activations of an FP8 linear
  CpuOptions options_;
  ops::ThreadPool pool_;
  FftPlanCache fft_plans_;
  // Runs fn, adding its wall time to stage_seconds_[stage] when profiling.
  template <typename Fn>
  void Stage(const char* stage, Fn&& fn);

  std::map<std::string, double> stage_seconds_;
  MixerObserver mixer_observer_;  // empty unless a decoder is prefilling
  // cos/sin tables by inverse-frequency vector (all attention blocks of a checkpoint normally
  // share one), grown to the longest S seen: [S, d/2] x 2 floats, 512 MB at 1M tokens, d = 128.
  std::map<std::vector<float>, ops::RotaryTable> rotary_;
  // Scratch reused across calls (Forward is one call at a time per model).
  std::vector<float> proj_, q_, a_, y_;
  MlpWorkspace mlp_ws_;
};

}  // namespace evo2::cpu
