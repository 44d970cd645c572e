// Cached-state decoding (docs/spec/model.md §12): a batch of sequences, each with its own
// position and per-block state, produced by a prefill and advanced one token at a time.
//
// Per sequence the state is, block by block: the featurizer's last two projection rows, the
// hcs/hcm FIR's last 6/127 inputs, the hcl block's 16 modal values per channel, the attention
// KV cache (rotated keys, values); for the HuggingFace families the KV cache and, in Mamba
// blocks, the causal-conv tail and the SSM state. A backend implements Decoder over its own
// memory (host vectors on the CPU, device buffers on a GPU); callers see only this interface.
//
// Get one from Model::NewDecoder (evo2/model.h). A Decoder borrows its model: it must not
// outlive it, and model and decoder calls must not overlap (one call at a time per Model).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2 {

struct DecoderOptions {
  // Checked by Prefill (between blocks of the forward) and at the start of every Step: once set,
  // they return CANCELLED and leave the batch unusable until the next Prefill.
  const std::atomic<bool>* cancelled = nullptr;
};

class Decoder {
 public:
  virtual ~Decoder() = default;

  // Replaces the batch with one sequence per prompt (each at least one token, ids in
  // [0, vocab)). Each prompt runs through the model's parallel forward, then every block's
  // state after the prompt's last token is derived exactly from that forward's intermediates.
  // Returns the logits at each prompt's last position: [prompts, vocab] row-major (row i
  // predicts prompt i's next token).
  virtual absl::StatusOr<std::vector<float>> Prefill(
      std::span<const std::vector<int32_t>> prompts) = 0;

  // Feeds tokens[i] to sequence i at its next position (tokens.size() == batch_size()) and
  // returns the logits there: [batch, vocab] row-major. Equals the parallel forward's logits
  // over the whole sequence so far, up to floating-point rounding.
  virtual absl::StatusOr<std::vector<float>> Step(std::span<const int32_t> tokens) = 0;

  // Continues every sequence by a run of tokens at once: suffixes[i] (at least one token, ids in
  // [0, vocab); suffixes.size() == batch_size(), lengths may differ) runs through the parallel
  // forward as if appended to sequence i, starting from its cached state instead of recomputing
  // its past, and the state then covers the sequence plus the suffix, so Step and Extend may
  // continue. Returns the logits at every suffix position, sequence after sequence:
  // [Σ_i |suffixes[i]|, vocab] row-major (row j of sequence i predicts the token after
  // suffixes[i][j]). Equals the parallel forward's logits over the whole sequence at those
  // positions, up to floating-point rounding. Shared-prefix scoring: Prefill a common prefix
  // once, Select copies, Extend each copy with its own suffix (docs/variant-scoring.md §5).
  // Backends without it return UNIMPLEMENTED and leave the batch as it was.
  virtual absl::StatusOr<std::vector<float>> Extend(
      std::span<const std::vector<int32_t>> suffixes) {
    (void)suffixes;
    return absl::UnimplementedError("Decoder::Extend is not implemented by this backend");
  }

  // Extend, returning the log-prob of a given next token at every suffix position instead of
  // the logits: targets[i][j] (targets[i].size() == suffixes[i].size(); ids in [0, vocab), or −1
  // for none, whose value is 0) is scored as log p(targets[i][j] | sequence i + suffixes[i][0..j]),
  // log-softmax over the position's logits. Returns [Σ_i |suffixes[i]|] in Extend's row order;
  // the state advances as for Extend. Scoring needs only these: the default computes them on the
  // host from Extend's logits (evo2/generate.h TokenLogProb), a GPU backend on the device, so the
  // [rows, vocab] logits never leave it.
  virtual absl::StatusOr<std::vector<float>> ExtendLogProbs(
      std::span<const std::vector<int32_t>> suffixes,
      std::span<const std::vector<int32_t>> targets);

  // Rebuilds the batch from the current sequences: new sequence i continues from a copy of
  // current sequence rows[i]. Repeats are allowed (several samples share one prefill); a
  // sequence not named is dropped. OUT_OF_RANGE for a row outside [0, batch_size()).
  virtual absl::Status Select(std::span<const int64_t> rows) = 0;

  virtual int64_t batch_size() const = 0;
  // Tokens sequence i has consumed, i.e. the position its next token will take.
  virtual int64_t position(int64_t i) const = 0;
  virtual int64_t vocab_size() const = 0;
};

}  // namespace evo2
