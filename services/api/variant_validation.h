// Validation of a variant-scoring SubmitJob (VariantScoringInput, proto/evo2/v1/inputs.proto)
// before anything is stored. The VCF and an uploaded reference are parsed by the worker's
// engine (htslib), which names the record it cannot read: the API checks only what it owns,
// sizes, the reference name and the options, so that nothing is parsed twice
// (docs/variant-scoring.md §6).
#pragma once

#include "absl/status/status.h"
#include "evo2/v1/jobs.pb.h"
#include "job_keys.h"
#include "model_catalog.h"
#include "redis_client.h"
#include "submit_validation.h"

namespace evo2::svc {

// Sizes (RESOURCE_EXHAUSTED: --max-vcf-bytes, --max-reference-fasta-bytes, the window against
// the model's record limit), options and the reference name's form (INVALID_ARGUMENT); fills
// `v` with the normalised input (defaults set), one result record and the uploaded bytes as
// the job's bases (what the tenant's base quota counts).
absl::Status ValidateVariantSubmit(const evo2::v1::SubmitJobRequest& req, const ModelLimits& model,
                                   const SubmitLimits& limits, ValidatedSubmit& v);

// The values ValidateVariantSubmit gives unset fields, and their bounds (ListModels tells
// clients, so a page's form starts from the API's own defaults).
evo2::v1::VariantScoringDefaults VariantDefaults();

// A job naming a reference must name one the model's workers registered (reference_registry.h):
// INVALID_ARGUMENT listing the registered names otherwise.
absl::Status CheckReferenceRegistered(RedisConnection& redis, const JobKeys& keys,
                                      const evo2::v1::JobInput& input);

}  // namespace evo2::svc
