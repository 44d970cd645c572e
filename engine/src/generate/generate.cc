// The generation loop (evo2/generate.h): groups of sequences, one prefill per distinct prompt of
// a group, then draw → sink → step until every sequence has max_new_tokens tokens.
#include "evo2/generate.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "evo2/status_macros.h"

namespace evo2 {

namespace {

absl::Status CheckOptions(const Model& model, std::span<const std::vector<int32_t>> prompts,
                          const GenerateOptions& o) {
  RETURN_IF_ERROR(ValidateSamplingOptions(o.sampling));
  if (o.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max-new-tokens must be >= 1; got ", o.max_new_tokens));
  }
  if (o.num_samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num-samples must be >= 1; got ", o.num_samples));
  }
  if (o.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch must be >= 1; got ", o.batch_size));
  }
  const int vocab = model.config().vocab_size;
  for (char c : o.sampling.alphabet) {
    if (static_cast<unsigned char>(c) >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("alphabet character '", std::string(1, c),
                                                     "' is outside the model's vocabulary"));
    }
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt ", i, " is empty"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<GeneratedSequence>> Generate(
    Model& model, std::span<const std::vector<int32_t>> prompts, const GenerateOptions& o,
    const TokenSink& sink) {
  RETURN_IF_ERROR(CheckOptions(model, prompts, o));
  DecoderOptions dopt;
  dopt.cancelled = o.cancelled;
  ASSIGN_OR_RETURN(std::unique_ptr<Decoder> decoder, model.NewDecoder(dopt));
  const int64_t V = model.config().vocab_size;

  std::vector<GeneratedSequence> out;  // prompt-major, then sample
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int s = 0; s < o.num_samples; ++s) {
      GeneratedSequence g;
      g.prompt_index = p;
      g.sample = s;
      out.push_back(std::move(g));
    }
  }
  for (size_t g0 = 0; g0 < out.size(); g0 += static_cast<size_t>(o.batch_size)) {
    const size_t g1 = std::min(out.size(), g0 + static_cast<size_t>(o.batch_size));
    // One prefill per distinct prompt of the group, then one decoder row per sequence.
    std::vector<std::vector<int32_t>> group_prompts;
    std::map<size_t, int64_t> row_of_prompt;
    std::vector<int64_t> rows;
    std::vector<TokenSampler> samplers;
    for (size_t i = g0; i < g1; ++i) {
      auto [it, fresh] =
          row_of_prompt.emplace(out[i].prompt_index, static_cast<int64_t>(group_prompts.size()));
      if (fresh) group_prompts.push_back(prompts[out[i].prompt_index]);
      rows.push_back(it->second);
      samplers.emplace_back(o.sampling, o.prompt_index_offset + out[i].prompt_index,
                            static_cast<uint64_t>(out[i].sample));
    }
    ASSIGN_OR_RETURN(std::vector<float> prefill_logits, decoder->Prefill(group_prompts));
    RETURN_IF_ERROR(decoder->Select(rows));
    std::vector<float> logits(rows.size() * static_cast<size_t>(V));  // [B, V]
    for (size_t r = 0; r < rows.size(); ++r) {
      std::copy_n(prefill_logits.begin() + rows[r] * V, V, logits.begin() + r * V);
    }
    std::vector<int32_t> next(rows.size());
    for (int64_t step = 0; step < o.max_new_tokens; ++step) {
      for (size_t r = 0; r < rows.size(); ++r) {
        const std::span<const float> row(logits.data() + r * V, static_cast<size_t>(V));
        GeneratedSequence& g = out[g0 + r];
        GeneratedToken t;
        t.prompt_index = g.prompt_index;
        t.sample = g.sample;
        t.index = step;
        t.token = samplers[r].Sample(row);
        t.log_prob = TokenLogProb(row, t.token);
        g.tokens.push_back(t.token);
        g.log_probs.push_back(t.log_prob);
        next[r] = t.token;
        if (sink) RETURN_IF_ERROR(sink(t));
      }
      if (step + 1 == o.max_new_tokens) break;
      ASSIGN_OR_RETURN(logits, decoder->Step(next));
    }
  }
  return out;
}

}  // namespace evo2
