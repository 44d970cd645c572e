// Variant-effect scoring: a VCF/BCF and a faidx-indexed reference in, Evo 2 delta
// log-likelihoods out, as the input VCF with INFO fields or as a TSV (docs/variant-scoring.md).
//
// For each ALT allele, delta = S(alt window) - S(ref window), where S(w) is the sum of the
// next-token log-probs of window w exactly as `evo2 predict` computes it without a BOS
// (evo2/predictor.h: the first base is context only, bases 2..L are scored), optionally averaged
// with the same sum on the reverse complement of w. Windows: docs/variant-scoring.md §2.
// Records that cannot be scored are written with a FILTER and a per-allele reason, never dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2 {

enum class VariantOutputFormat { kVcf, kTsv };

struct VariantScoringOptions {
  std::filesystem::path vcf;        // .vcf, .vcf.gz (bgzip or gzip) or .bcf
  std::filesystem::path reference;  // FASTA, plain or bgzipped; .fai/.gzi built when missing
  std::filesystem::path output;     // VCF: .vcf, .vcf.gz (bgzf), .bcf; or TSV
  VariantOutputFormat format = VariantOutputFormat::kVcf;
  std::filesystem::path tsv;    // optional second output, a TSV, beside a VCF output
  int64_t window_bases = 8192;  // L: bases in every ref and alt window
  bool both_strands = false;    // average S over the window and its reverse complement
  int batch_windows = 8;        // windows per Model::ForwardBatch call
  // Windows of a strand that begin with the same bases (a variant's ref and alt windows share
  // their left flank) are scored from one forward of that prefix and a Decoder::Extend per
  // window (docs/variant-scoring.md §5); false: a full forward per window, `evo2 predict`'s
  // scores bit for bit. The two agree up to fp32 GEMM rounding summed over a window (deltas
  // within 2.4e-4 at 8 192 bases, docs §5); backends without Extend always take full forwards.
  bool shared_prefix = true;
  std::string model_name;       // written to the VCF header and INFO (EVO2_MODEL)
  std::string precision_name;   // "fp32", "bf16", ... (EVO2_PRECISION)
};

struct VariantScoringProgress {
  int64_t records_done = 0;
  int64_t records_total = 0;  // counted by a first pass over the input
  int64_t windows_scored = 0;
  int64_t tokens_scored = 0;
};

struct VariantScoringSummary {
  int64_t records = 0;
  int64_t alleles_scored = 0;
  int64_t alleles_unscored = 0;
  int64_t windows_scored = 0;  // forward passes (a strand of a window counts once)
  int64_t windows_reused = 0;  // ref windows shared with an earlier record at the same place
  // Window strands scored as continuations of a prefix forward (options.shared_prefix); each is
  // counted in windows_scored too, and tokens_scored counts the prefix once.
  int64_t windows_from_shared_prefix = 0;
  int64_t tokens_scored = 0;
  int64_t unsorted_records = 0;  // records before their predecessor (scored all the same)
};

// Runs the whole job. Fails (with the file and record) only on unreadable input, an unusable
// reference or an output that cannot be written; a record that cannot be scored is annotated.
// `progress` (optional) is called after every batch; `cancelled` (optional) stops between
// batches and inside forwards with CANCELLED, leaving no output file.
absl::StatusOr<VariantScoringSummary> ScoreVariants(
    Model& model, const VariantScoringOptions& options,
    const std::function<void(const VariantScoringProgress&)>& progress = nullptr,
    const std::atomic<bool>* cancelled = nullptr);

// What `evo2 score-variants` writes as EVO2_MODEL and EVO2_PRECISION for `model` loaded from
// `checkpoint`: "<config name>/<checkpoint file name>" with the characters a VCF INFO value
// cannot hold (whitespace, ';', '=', ',') replaced by '_', and the backend's precision ("fp32",
// "bf16"). One definition for the CLI and the job service's worker, so both write the same VCF.
std::string VariantModelName(const Model& model, const std::filesystem::path& checkpoint);
std::string VariantPrecisionName(const Model& model);

// Opens `reference` as ScoreVariants does (building a missing .fai/.gzi beside it, as samtools
// does) and fails with the path and htslib's reason when it cannot be used. For a service that
// checks the references it offers when it starts rather than at its first job.
absl::Status CheckVariantReference(const std::filesystem::path& reference);

}  // namespace evo2
