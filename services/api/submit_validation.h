// Validation of a SubmitJob request before anything is stored (docs/service.md): FASTA, alphabet,
// record names, counts and lengths against the model, output sizes, options, labels.
// Every refusal names the record (and the FASTA line when the input was FASTA text) and the
// limit: INVALID_ARGUMENT for malformed input, RESOURCE_EXHAUSTED for size limits.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/v1/jobs.pb.h"
#include "model_catalog.h"

namespace evo2::svc {

struct SubmitLimits {
  // Accepted sequence letters (either case). IUPAC nucleotide codes by default.
  std::string alphabet = "ACGTUNRYSWKMBDHV";
  int64_t max_records = 10000;
  int64_t max_total_bases = 50'000'000;
  int64_t max_header_bytes = 1024;
  int max_embedding_layers = 10;
  // Output bytes per record (logits, un-pooled embeddings, per-token log-probs) without /
  // with OutputSpec.allow_large_outputs.
  int64_t max_output_bytes_per_record = 64ll << 20;
  int64_t hard_max_output_bytes_per_record = 1ll << 30;
  // Output bytes of the whole job (the sum over records, allow_large_outputs or not): what the
  // results store and the client have to hold for one job.
  int64_t max_output_bytes_per_job = 8ll << 30;
  // Variant-scoring jobs: bytes of the uploaded VCF and of an uploaded reference FASTA.
  int64_t max_vcf_bytes = 16ll << 20;
  int64_t max_reference_fasta_bytes = 16ll << 20;
};

struct ValidatedSubmit {
  evo2::v1::JobInput input;  // records in input order, options normalised
  int64_t bases = 0;         // sum of record lengths
  int64_t tokens_total = 0;  // bases + one BOS per record when prepend_bos
  int64_t records_total = 0;  // results the job will have: its records (1 for variant scoring)
};

absl::StatusOr<ValidatedSubmit> ValidateSubmit(const evo2::v1::SubmitJobRequest& request,
                                               const ModelLimits& model,
                                               const SubmitLimits& limits);

// Idempotency key and labels (cheap checks, done first).
absl::Status ValidateMetadata(const evo2::v1::SubmitJobRequest& request);

}  // namespace evo2::svc
