// Sampling DNA from a model with cached-state decoding (evo2/decoder.h): the engine side of
// `evo2 generate` and of the service's generate jobs, so that both produce the same tokens for
// the same seed.
//
// Per step the next token is drawn from the logits at the sequence's last position:
//   1. only the ids of `alphabet` are candidates (default ACGT; the model's 512 ids include
//      control bytes that cannot appear in FASTA);
//   2. temperature T: logits / T (T = 0: the highest logit, lowest id on ties — greedy);
//   3. top-k: the k highest candidates (0 = all); 4. top-p: the smallest set of the highest
//      candidates whose probability (softmax of step 2, after step 3) reaches p (1 = all);
//   5. one draw from the renormalised probabilities.
// The same steps as the reference's sampler (docs/spec/model.md §12), in the order top-k,
// temperature, top-p (temperature does not change the top-k set).
//
// Reproducibility: every sequence (prompt i, sample j) has its own generator, std::mt19937_64
// (its output is fixed by the C++ standard) seeded from (seed, i, j), and a draw is
// (bits >> 11)·2⁻⁵³. The same seed, model, backend, machine and batch size give the same
// tokens (the draws are fixed; the logits depend on the BLAS kernels the machine selects);
// sequences do not share randomness, so adding prompts changes no other's output.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "evo2/sampling.h"

namespace evo2 {

// Draws tokens for one sequence.
class TokenSampler {
 public:
  // `options` must be valid. prompt_index / sample select the sequence's own random stream.
  TokenSampler(const SamplingOptions& options, uint64_t prompt_index, uint64_t sample);
  // logits [vocab]; returns the drawn id.
  int32_t Sample(std::span<const float> logits);

 private:
  const SamplingOptions& options_;
  std::mt19937_64 rng_;
  std::vector<int32_t> candidates_;  // alphabet ids
};

// log_softmax(logits)[token] over the whole vocabulary at temperature 1: the model's own
// log-probability of a generated token, whatever the sampling settings.
float TokenLogProb(std::span<const float> logits, int32_t token);

struct GenerateOptions {
  int64_t max_new_tokens = 100;  // ≥ 1 per sequence
  int num_samples = 1;           // sequences per prompt, ≥ 1
  int batch_size = 1;            // sequences decoded together in one step, ≥ 1
  SamplingOptions sampling;
  const std::atomic<bool>* cancelled = nullptr;  // CANCELLED between steps once set
  // Prompt i draws from the random stream of prompt index offset + i (and reports that index):
  // a caller that generates the records of one input one at a time (the service's worker)
  // passes the record's index to get the same sequences as one call over the whole input.
  // Results and tokens still report prompt_index as the index into `prompts`.
  size_t prompt_index_offset = 0;
};

struct GeneratedToken {
  size_t prompt_index = 0;
  int sample = 0;
  int64_t index = 0;  // 0-based among the new tokens
  int32_t token = 0;
  float log_prob = 0;  // TokenLogProb
};

struct GeneratedSequence {
  size_t prompt_index = 0;
  int sample = 0;
  std::vector<int32_t> tokens;   // [max_new_tokens]
  std::vector<float> log_probs;  // [max_new_tokens]
};

// Called for every token as soon as it is drawn (in step order; within a step in sequence
// order). A non-OK return stops generation with that status.
using TokenSink = std::function<absl::Status(const GeneratedToken&)>;

// Generates num_samples continuations of every prompt (each non-empty, ids < vocab), in groups
// of batch_size sequences ordered prompt-major; samples of one prompt in a group share its
// prefill. Returns them in that order.
absl::StatusOr<std::vector<GeneratedSequence>> Generate(
    Model& model, std::span<const std::vector<int32_t>> prompts, const GenerateOptions& options,
    const TokenSink& sink = nullptr);

}  // namespace evo2
