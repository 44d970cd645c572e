// The variant side of the `evo2` client: `evo2 submit --score-variants` flags (the names and
// defaults of `evo2 score-variants`), the VARIANTS_PROGRESS event line of `watch`, and a
// variant job's result files written to a directory (docs/service.md "Variant-scoring jobs").
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "evo2/v1/jobs.pb.h"
#include "evo2/v1/results.pb.h"

namespace evo2::client {

struct VariantFlags {
  bool score_variants = false;
  std::string vcf;              // file to upload
  std::string reference;        // a reference registered on the workers, by name
  std::string reference_fasta;  // or a FASTA file to upload
  int64_t window = 8192;
  bool both_strands = false;
  int batch = 8;
};

void AddVariantFlags(CLI::App* cmd, VariantFlags* flags);
// With --score-variants: sets request.variants from the flags, reading the files (a missing
// file, or neither or both of --reference / --reference-fasta, is INVALID_ARGUMENT naming the
// flag). Without it: OK, nothing set.
absl::Status ApplyVariantFlags(const VariantFlags& flags, evo2::v1::SubmitJobRequest& request);

// "variants  DONE/TOTAL VCF records, W windows, T tokens" for a VARIANTS_PROGRESS event.
std::string VariantProgressLine(const evo2::v1::JobEvent& event);

// Writes every file of `record` into `dir` under its own name (a name with a directory part
// is refused, so nothing lands outside `dir`); prints one line per file to stdout.
absl::Status WriteResultFiles(const evo2::v1::RecordResult& record, const std::string& dir);

}  // namespace evo2::client
