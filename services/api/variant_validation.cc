#include "variant_validation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "error_details.h"
#include "evo2/status_macros.h"
#include "reference_registry.h"

namespace evo2::svc {
namespace {

// Defaults of unset fields (proto3 zero values), as documented in inputs.proto; they match
// `evo2 score-variants`' defaults.
constexpr int64_t kDefaultWindowBases = 8192;
// The first base of a window is context only (docs/variant-scoring.md §1).
constexpr int64_t kMinWindowBases = 2;
constexpr int32_t kDefaultBatchWindows = 8;
constexpr int32_t kMaxBatchWindows = 64;

absl::Status CheckUploadSize(const std::string& field, const std::string& what, int64_t bytes,
                             int64_t limit, const std::string& reason, const std::string& flag) {
  if (bytes == 0) return InvalidField(field, absl::StrCat(field, ": the ", what, " is empty"));
  if (bytes > limit) {
    return SizeLimitError(reason, field,
                          absl::StrCat(field, ": the ", what, " is ", bytes,
                                       " bytes, above the limit of ", limit, " bytes (", flag, ")"),
                          bytes, limit);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateVariantSubmit(const evo2::v1::SubmitJobRequest& req, const ModelLimits& model,
                                   const SubmitLimits& limits, ValidatedSubmit& v) {
  // A variant job has its own options: the record job's would be silently ignored.
  if (req.outputs().ByteSizeLong() > 0) {
    return InvalidField("outputs",
                        "a variant-scoring job returns the annotated VCF and the TSV; leave "
                        "`outputs` unset");
  }
  if (req.options().ByteSizeLong() > 0) {
    return InvalidField("options",
                        "a variant-scoring job scores windows as `evo2 score-variants` does; "
                        "leave `options` unset");
  }
  if (req.has_generation()) {
    return InvalidField("generation", "generation cannot be combined with variant scoring");
  }
  evo2::v1::VariantScoringInput in = req.variants();
  RETURN_IF_ERROR(CheckUploadSize("variants.vcf", "VCF", static_cast<int64_t>(in.vcf().size()),
                                  limits.max_vcf_bytes, "VCF_TOO_LARGE", "--max-vcf-bytes"));
  switch (in.reference_case()) {
    case evo2::v1::VariantScoringInput::kReferenceName:
      if (absl::Status s = CheckReferenceName(in.reference_name()); !s.ok()) {
        return InvalidField("variants.reference_name",
                            absl::StrCat("variants.reference_name: ", s.message()));
      }
      break;
    case evo2::v1::VariantScoringInput::kReferenceFasta:
      RETURN_IF_ERROR(CheckUploadSize("variants.reference_fasta", "reference FASTA",
                                      static_cast<int64_t>(in.reference_fasta().size()),
                                      limits.max_reference_fasta_bytes, "REFERENCE_TOO_LARGE",
                                      "--max-reference-fasta-bytes"));
      break;
    default:
      return InvalidField("variants.reference",
                          "no reference: set `reference_name` (a reference registered on the "
                          "workers) or `reference_fasta` (an uploaded FASTA)");
  }
  if (in.window_bases() == 0) in.set_window_bases(kDefaultWindowBases);
  if (in.window_bases() < kMinWindowBases) {
    return InvalidField("variants.window_bases",
                        absl::StrCat("variants.window_bases is ", in.window_bases(),
                                     "; a window needs at least ", kMinWindowBases, " bases"));
  }
  if (in.window_bases() > model.max_record_tokens) {
    return SizeLimitError(
        "WINDOW_TOO_LONG", "variants.window_bases",
        absl::StrCat("variants.window_bases: ", in.window_bases(), " bases exceeds the limit of ",
                     model.max_record_tokens, " tokens per sequence for model '", model.name, "'"),
        in.window_bases(), model.max_record_tokens);
  }
  if (in.batch_windows() == 0) in.set_batch_windows(kDefaultBatchWindows);
  if (in.batch_windows() < 1 || in.batch_windows() > kMaxBatchWindows) {
    return InvalidField("variants.batch_windows",
                        absl::StrCat("variants.batch_windows must be in 1..", kMaxBatchWindows,
                                     "; got ", in.batch_windows()));
  }
  v.bases = static_cast<int64_t>(in.vcf().size() + in.reference_fasta().size());
  v.records_total = 1;  // one result: the output files
  v.tokens_total = 0;   // known only once the worker has read the VCF (VariantProgress)
  v.input.set_model(req.model());
  *v.input.mutable_variants() = std::move(in);
  return absl::OkStatus();
}

evo2::v1::VariantScoringDefaults VariantDefaults() {
  evo2::v1::VariantScoringDefaults d;
  d.set_window_bases(kDefaultWindowBases);
  d.set_min_window_bases(kMinWindowBases);
  d.set_batch_windows(kDefaultBatchWindows);
  d.set_max_batch_windows(kMaxBatchWindows);
  return d;
}

absl::Status CheckReferenceRegistered(RedisConnection& redis, const JobKeys& keys,
                                      const evo2::v1::JobInput& input) {
  if (input.variants().reference_case() != evo2::v1::VariantScoringInput::kReferenceName) {
    return absl::OkStatus();
  }
  const std::string& name = input.variants().reference_name();
  ASSIGN_OR_RETURN(auto registered, RegisteredReferences(redis, keys, input.model()));
  if (registered.count(name) > 0) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& [n, description] : registered) names.push_back(n);
  return InvalidField(
      "variants.reference_name",
      absl::StrCat("variants.reference_name: reference '", name, "' is not registered for model '",
                   input.model(),
                   "' (registered: ", names.empty() ? "none" : absl::StrJoin(names, ", "),
                   "; workers offer references with evo2-worker --reference NAME=PATH)"));
}

}  // namespace evo2::svc
