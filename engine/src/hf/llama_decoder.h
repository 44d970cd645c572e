// Cached-state decoding for the Llama ("Eden") family (evo2/decoder.h): the state of a sequence
// is one KV cache per layer (keys rotated with the llama3-scaled RoPE at their positions).
// Prefill runs LlamaModel::Forward and copies each layer's rotated k and v; a step of B
// sequences runs norms, projections and MLPs as [B, ·] GEMMs and attention per sequence over
// its cache.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "evo2/decoder.h"
#include "ops/kv_cache.h"

namespace evo2::hf {

class LlamaModel;

class LlamaDecoder final : public Decoder {
 public:
  LlamaDecoder(LlamaModel& model, DecoderOptions options) : model_(model), options_(options) {}

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
    std::vector<ops::KvCache> kv;  // [layers], rows of n_kv·d
  };

  LlamaModel& model_;
  DecoderOptions options_;
  std::vector<Sequence> sequences_;
};

}  // namespace evo2::hf
