// The CPU backend's Decoder (evo2/decoder.h): prefill through CpuModel::Forward, whose mixer
// observer hands each block's intermediates to DeriveHyenaState / DeriveAttentionState, then
// steps of B sequences at once: embedding, norms, projections, MLPs and head as [B, ·] GEMMs
// (weights read once per step for the whole batch), the recurrent parts per sequence
// (cpu/hyena_decode_state.h). Extend (cpu_decoder_extend.cc) runs a suffix of many tokens per
// sequence as a parallel forward seeded with the sequence's state.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "cpu/cpu_weights.h"
#include "cpu/hyena_decode_state.h"
#include "evo2/config.h"
#include "evo2/decoder.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {

class CpuModel;

class CpuDecoder final : public Decoder {
 public:
  CpuDecoder(CpuModel& model, const ModelConfig& config, const Weights& weights,
             ops::ThreadPool& pool, DecoderOptions options);

  absl::StatusOr<std::vector<float>> Prefill(
      std::span<const std::vector<int32_t>> prompts) override;
  absl::StatusOr<std::vector<float>> Step(std::span<const int32_t> tokens) override;
  absl::StatusOr<std::vector<float>> Extend(
      std::span<const std::vector<int32_t>> suffixes) override;
  absl::Status Select(std::span<const int64_t> rows) override;
  int64_t batch_size() const override { return static_cast<int64_t>(sequences_.size()); }
  int64_t position(int64_t i) const override { return sequences_[static_cast<size_t>(i)].position; }
  int64_t vocab_size() const override { return config_.vocab_size; }

 private:
  struct Sequence {
    int64_t position = 0;                 // tokens consumed
    std::vector<HyenaBlockState> blocks;  // [N]
  };

  absl::StatusOr<Sequence> PrefillOne(std::span<const int32_t> prompt, std::vector<float>& logits);
  // x [B, H] += the mixer of block bi for every sequence (z [B, H] its normed input).
  void MixerStep(int bi, const float* z, float* m);
  // Extend of one sequence by `suffix` (L tokens); appends its logits [L, V] to `logits`.
  absl::Status ExtendOne(Sequence& seq, std::span<const int32_t> suffix,
                         std::vector<float>& logits);
  // m [L, H] = block b's mixer on z [L, H] at positions seq.position.. (state updated).
  void HyenaMixerExtend(const BlockWeights& b, HyenaBlockState& st, int64_t position,
                        const float* z, int64_t L, float* m);
  void AttentionMixerExtend(const BlockWeights& b, HyenaBlockState& st, int64_t position,
                            const float* z, int64_t L, float* m);

  CpuModel& model_;
  const ModelConfig& config_;
  const Weights& weights_;
  ops::ThreadPool& pool_;
  DecoderOptions options_;
  std::vector<Sequence> sequences_;
  // Step and Extend scratch.
  std::vector<float> proj_, y_, q_, a_, hist_;
  MlpWorkspace mlp_ws_;
};

}  // namespace evo2::cpu
