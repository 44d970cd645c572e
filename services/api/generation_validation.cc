#include "generation_validation.h"

#include "absl/strings/str_cat.h"
#include "error_details.h"
#include "evo2/sampling.h"

namespace evo2::svc {

absl::Status ValidateGeneration(const evo2::v1::SubmitJobRequest& req, const ModelLimits& model,
                                ValidatedSubmit& v) {
  evo2::v1::GenerationOptions g = req.generation();
  // Defaults of unset fields (proto3 zero values), as documented in inputs.proto.
  if (!g.has_temperature()) g.set_temperature(1.0);
  if (g.top_p() == 0) g.set_top_p(1.0);
  if (g.num_samples() == 0) g.set_num_samples(1);
  if (g.alphabet().empty()) g.set_alphabet("ACGT");
  SamplingOptions s;
  s.temperature = g.temperature();
  s.top_k = g.top_k();
  s.top_p = g.top_p();
  s.seed = g.seed();
  s.alphabet = g.alphabet();
  if (absl::Status st = ValidateSamplingOptions(s); !st.ok()) {
    return InvalidField("generation", std::string(st.message()));
  }
  if (g.num_samples() < 1 || g.num_samples() > kMaxSamplesPerPrompt) {
    return InvalidField("generation.num_samples",
                        absl::StrCat("num_samples must be in 1..", kMaxSamplesPerPrompt, "; got ",
                                     g.num_samples()));
  }
  if (g.max_new_tokens() < 1) {
    return InvalidField("generation.max_new_tokens",
                        absl::StrCat("max_new_tokens must be >= 1; got ", g.max_new_tokens()));
  }
  const auto& out = req.outputs();
  if (out.logits() || out.embeddings_size() > 0) {
    return InvalidField("outputs",
                        "a generate job returns generated sequences; logits and "
                        "embeddings cannot be asked for with generation");
  }
  if (req.options().prepend_bos()) {
    return InvalidField("options.prepend_bos", "prepend_bos is not available for generate jobs");
  }
  int64_t generated = 0;
  for (int i = 0; i < v.input.records_size(); ++i) {
    const auto& r = v.input.records(i);
    const int64_t total = static_cast<int64_t>(r.sequence().size()) + g.max_new_tokens();
    if (total > model.max_record_tokens) {
      return SizeLimitError(
          "RECORD_TOO_LONG", "generation.max_new_tokens",
          absl::StrCat("record '", r.name().substr(0, 64), "' (#", i + 1, "): prompt of ",
                       r.sequence().size(), " bases + ", g.max_new_tokens(),
                       " new tokens exceeds the limit of ", model.max_record_tokens,
                       " tokens per sequence for model '", model.name, "'"),
          total, model.max_record_tokens);
    }
    generated += g.max_new_tokens() * g.num_samples();
  }
  v.tokens_total += generated;
  *v.input.mutable_generation() = g;
  return absl::OkStatus();
}

}  // namespace evo2::svc
