// Validation of a generate job (SubmitJobRequest.generation, proto/evo2/v1/inputs.proto
// GenerationOptions): sampling options by the engine's own check (evo2/sampling.h), lengths
// against the model, no scoring outputs; fills the defaults into the stored JobInput and counts
// the generated tokens into the job's total.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "evo2/v1/jobs.pb.h"
#include "model_catalog.h"
#include "submit_validation.h"

namespace evo2::svc {

inline constexpr int kMaxSamplesPerPrompt = 64;

// `v` is the request's validated scoring view (records, outputs); on success its input carries
// the normalised GenerationOptions and tokens_total the prompts plus every generated base.
absl::Status ValidateGeneration(const evo2::v1::SubmitJobRequest& request, const ModelLimits& model,
                                ValidatedSubmit& v);

}  // namespace evo2::svc
