// Reference genomes that a model's workers offer to variant-scoring jobs
// (VariantScoringInput.reference_name, docs/service.md "Variant-scoring jobs").
//
// A worker started with `--reference NAME=PATH` checks each file with the engine at start and
// registers NAME under its model (job_keys.h References), and again every metrics interval; the API
// refuses a job naming a reference no worker of the model has registered, listing the registered
// ones. Registrations persist (an autoscaler may have stopped every worker while jobs are
// submitted), so every worker of a model is expected to offer the same references; a worker that
// lacks one fails the job with FAILED_PRECONDITION naming what it has.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "job_keys.h"
#include "redis_client.h"

namespace evo2::svc {

// 1..64 characters of [A-Za-z0-9._-]: names travel in job inputs, keys and messages.
absl::Status CheckReferenceName(const std::string& name);

// Records that a worker of `model` offers `name`; `description` says which worker and file
// (shown to nobody but operators reading Redis).
absl::Status RegisterReference(RedisConnection& redis, const JobKeys& keys,
                               const std::string& model, const std::string& name,
                               const std::string& description);

// Name -> description of every reference registered for `model`.
absl::StatusOr<std::map<std::string, std::string>> RegisteredReferences(RedisConnection& redis,
                                                                        const JobKeys& keys,
                                                                        const std::string& model);

}  // namespace evo2::svc
