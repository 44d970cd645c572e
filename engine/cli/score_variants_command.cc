// `evo2 score-variants`: VCF + reference -> Evo 2 delta log-likelihoods per ALT allele, as the
// annotated VCF or a TSV (docs/variant-scoring.md). The model is loaded like `evo2 predict`
// loads it (same --ckpt-dir / --model-size / --device / --precision); the work is the engine's
// ScoreVariants (evo2/variant_scoring.h).
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cancel_on_signal.h"
#include "default_model.h"
#include "engine_commands.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "evo2/variant_scoring.h"
#include "progress.h"

namespace evo2::cli {
namespace {

struct ScoreVariantsArgs {
  std::filesystem::path vcf, reference, output, tsv, ckpt_dir;
  std::string output_format;  // "" = from the output's name (.tsv -> tsv, else vcf)
  std::optional<std::string> model_size;
  int64_t window = 8192;
  bool both_strands = false;
  int batch = 8;
  bool no_shared_prefix = false;
  std::string device = "cpu";
  std::string precision;
  int threads = 0;
  bool quiet = false;
};

absl::Status Run(const ScoreVariantsArgs& a) {
  CancelOnSignal cancel_on_signal;
  VariantScoringOptions o;
  o.vcf = a.vcf;
  o.reference = a.reference;
  o.output = a.output;
  o.tsv = a.tsv;
  std::string format = a.output_format;
  if (format.empty()) format = absl::EndsWith(a.output.string(), ".tsv") ? "tsv" : "vcf";
  o.format = format == "tsv" ? VariantOutputFormat::kTsv : VariantOutputFormat::kVcf;
  if (o.format == VariantOutputFormat::kTsv && !a.tsv.empty()) {
    return absl::InvalidArgumentError(
        "--tsv adds a TSV beside a VCF output; with "
        "--output-format tsv the --output is the TSV");
  }
  o.window_bases = a.window;
  o.both_strands = a.both_strands;
  o.batch_windows = a.batch;
  o.shared_prefix = !a.no_shared_prefix;

  ASSIGN_OR_RETURN(const Device device, ParseDevice(a.device));
  ASSIGN_OR_RETURN(const Precision precision, ParsePrecision(a.precision));
  std::filesystem::path ckpt_dir = a.ckpt_dir;
  if (ckpt_dir.empty()) {
    ASSIGN_OR_RETURN(auto demo, DefaultModelDir());
    ckpt_dir = demo;
  }
  ASSIGN_OR_RETURN(const CheckpointDescription ckpt, DescribeCheckpoint(ckpt_dir));
  LoadOptions lo;
  lo.checkpoint = ckpt_dir;
  if (a.model_size) {
    lo.model_size = *a.model_size;
  } else if (!ckpt.has_config()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", ckpt_dir.string(),
                                                   " carries no architecture: give --model-size"));
  }
  lo.device = device;
  lo.precision = precision;
  lo.threads = a.threads;
  ASSIGN_OR_RETURN(auto model, LoadModel(lo));
  o.model_name = VariantModelName(*model, ckpt_dir);
  o.precision_name = VariantPrecisionName(*model);

  // Created at the first report, when the record count (from the engine's prescan) is known;
  // the ETA is by records (windows per record vary).
  std::optional<ProgressReporter> reporter;
  ASSIGN_OR_RETURN(const VariantScoringSummary summary,
                   ScoreVariants(
                       *model, o,
                       [&](const VariantScoringProgress& p) {
                         if (!reporter) {
                           reporter.emplace(std::cerr, p.records_total, 0, !a.quiet,
                                            "evo2 score-variants", "variants");
                         }
                         reporter->Update(p.records_done, p.tokens_scored);
                       },
                       &cancel_on_signal.flag()));
  if (reporter) reporter->Done(summary.records, summary.tokens_scored);
  if (!a.quiet) {
    std::cerr << "evo2 score-variants: " << summary.alleles_scored << " alleles scored, "
              << summary.alleles_unscored << " not scored (see FILTER / status), "
              << summary.windows_scored << " forward passes, " << summary.windows_reused
              << " windows shared, " << summary.windows_from_shared_prefix
              << " continued from a shared prefix";
    if (summary.unsorted_records > 0) {
      std::cerr << ", " << summary.unsorted_records << " records out of order (EVO2_UNSORTED)";
    }
    std::cerr << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddScoreVariantsCommand(CLI::App& app) {
  auto args = std::make_shared<ScoreVariantsArgs>();
  ScoreVariantsArgs& a = *args;
  CLI::App* cmd = app.add_subcommand(
      "score-variants",
      "Score VCF variants with an Evo 2 checkpoint: delta log-likelihood of the alt window "
      "against the ref window for every ALT allele (docs/variant-scoring.md).");
  cmd->add_option("--vcf", a.vcf, "Variants: .vcf, .vcf.gz or .bcf (any order, no index needed)")
      ->required();
  cmd->add_option("--reference", a.reference,
                  "Reference FASTA, plain or bgzipped (a missing .fai/.gzi is built beside it)")
      ->required();
  cmd->add_option("--output", a.output,
                  "Output: annotated VCF (.vcf, .vcf.gz bgzipped, .bcf) or TSV (.tsv)")
      ->required();
  cmd->add_option("--output-format", a.output_format,
                  "vcf or tsv (default: tsv when --output ends in .tsv, else vcf)")
      ->check(CLI::IsMember({"vcf", "tsv"}));
  cmd->add_option("--tsv", a.tsv, "Also write the TSV here (with a VCF --output)");
  cmd->add_option("--ckpt-dir", a.ckpt_dir,
                  "Checkpoint as for evo2 predict; default: the demo model shipped with evo2");
  cmd->add_option("--model-size", a.model_size,
                  "Architecture preset for checkpoints that carry no config (as evo2 predict)");
  cmd->add_option("--window", a.window, "Bases per ref and alt window")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_flag("--both-strands", a.both_strands,
                "Average every window's log-likelihood with its reverse complement's");
  cmd->add_option("--batch", a.batch, "Windows per forward batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-shared-prefix", a.no_shared_prefix,
                "A full forward per window instead of one forward of the bases windows share "
                "at their start plus a continuation per window (same scores up to fp32 rounding)");
  cmd->add_option("--device", a.device, "cpu (fp32 reference) or cuda (bf16)")
      ->capture_default_str();
  cmd->add_option("--precision", a.precision, "bf16 or fp32 (default: the backend's)");
  cmd->add_option("--threads", a.threads, "CPU threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", a.quiet, "No progress on stderr");
  cmd->callback([args]() {
    const absl::Status status = Run(*args);
    if (!status.ok()) {
      std::cerr << "evo2 score-variants: error: " << status.message() << std::endl;
      throw CLI::RuntimeError(status.code() == absl::StatusCode::kCancelled ? 130 : 1);
    }
  });
}

}  // namespace evo2::cli
