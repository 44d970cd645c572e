// A variant-scoring job (proto/evo2/v1/inputs.proto VariantScoringInput) through the engine's
// ScoreVariants (evo2/variant_scoring.h), exactly as `evo2 score-variants --output
// variants.vcf.gz --tsv variants.tsv` runs it: the uploaded VCF (and reference region) go to a
// private scratch directory, the engine writes the annotated VCF (bgzipped) and the TSV there,
// and both come back as the job's one result (record 0, "variants") with ResultFile entries.
// The scratch directory is removed afterwards, whatever happened.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "evo2/v1/inputs.pb.h"
#include "evo2/v1/jobs.pb.h"
#include "evo2/v1/results.pb.h"

namespace evo2::svc {

inline constexpr char kVariantResultName[] = "variants";
inline constexpr char kVariantVcfFile[] = "variants.vcf.gz";
inline constexpr char kVariantTsvFile[] = "variants.tsv";

// Called with the job's progress through its VCF, at most every kVariantProgressInterval and
// once at the end. A non-OK status (lease lost) is returned by ScoreVariantJob once the engine
// has stopped; the caller raises the engine's cancel flag to stop it early.
using VariantProgressPublisher = std::function<absl::Status(const evo2::v1::VariantProgress&)>;

struct VariantJobEngine {
  evo2::Model* model = nullptr;
  std::string vcf_model_name;      // EVO2_MODEL (evo2::VariantModelName of the checkpoint)
  std::string vcf_precision_name;  // EVO2_PRECISION (evo2::VariantPrecisionName)
  std::map<std::string, std::filesystem::path> references;  // --reference NAME=PATH
  std::string worker_id;                                    // for error messages
};

// `job.variants` must be set (and normalised by the API). Engine errors keep their code (a VCF
// record htslib cannot parse is INVALID_ARGUMENT naming the record); file names in messages
// are the scratch directory's ("input.vcf", "reference.fa"), never its path. A reference name
// this worker lacks is FAILED_PRECONDITION naming the ones it has.
absl::StatusOr<evo2::v1::RecordResult> ScoreVariantJob(const VariantJobEngine& engine,
                                                       const evo2::v1::JobInput& job,
                                                       const std::atomic<bool>* cancelled,
                                                       const VariantProgressPublisher& publish);

}  // namespace evo2::svc
