// Cached-state decoding for the NemotronH (Mamba-2 hybrid) family (evo2/decoder.h). Per
// sequence and layer the state is: Mamba — the causal conv's last K−1 raw xBC rows and the SSM
// state σ [n_h, P, N] (hf/nemotron_h_mamba_mixer.h MambaState); attention — a KV cache (no
// position encoding in this family); MLP layers have none. Prefill runs NemotronHModel::Forward
// and takes each mixer's state as it finishes; a step of B sequences runs norms, attention
// projections and MLPs as [B, ·] GEMMs, each Mamba mixer per sequence for one position from its
// state (the same code as the parallel path, so the same arithmetic).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "evo2/decoder.h"
#include "hf/nemotron_h_mamba_mixer.h"
#include "ops/kv_cache.h"

namespace evo2::hf {

class NemotronHModel;

class NemotronHDecoder final : public Decoder {
 public:
  NemotronHDecoder(NemotronHModel& model, DecoderOptions options)
      : model_(model), options_(options) {}

  absl::StatusOr<std::vector<float>> Prefill(
      std::span<const std::vector<int32_t>> prompts) override;
  absl::StatusOr<std::vector<float>> Step(std::span<const int32_t> tokens) override;
  absl::Status Select(std::span<const int64_t> rows) override;
  int64_t batch_size() const override { return static_cast<int64_t>(sequences_.size()); }
  int64_t position(int64_t i) const override { return sequences_[static_cast<size_t>(i)].position; }
  int64_t vocab_size() const override;

 private:
  struct Sequence {
    int64_t position = 0;
    std::vector<MambaState> mamba;  // [layers], filled for Mamba layers
    std::vector<ops::KvCache> kv;   // [layers], used by attention layers
  };

  NemotronHModel& model_;
  DecoderOptions options_;
  std::vector<Sequence> sequences_;
};

}  // namespace evo2::hf
