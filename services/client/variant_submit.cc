#include "variant_submit.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace evo2::client {
namespace {

absl::Status ReadFlagFile(const std::string& flag, const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read it"));
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return absl::OkStatus();
}

}  // namespace

void AddVariantFlags(CLI::App* cmd, VariantFlags* f) {
  cmd->add_flag("--score-variants", f->score_variants,
                "Score the variants of --vcf (as evo2 score-variants) instead of a FASTA");
  cmd->add_option("--vcf", f->vcf, "With --score-variants: .vcf, .vcf.gz or .bcf to upload");
  cmd->add_option("--reference", f->reference,
                  "With --score-variants: name of a reference registered on the workers");
  cmd->add_option("--reference-fasta", f->reference_fasta,
                  "With --score-variants: a reference region to upload (FASTA, plain or bgzipped)");
  cmd->add_option("--window", f->window, "With --score-variants: bases per ref and alt window")
      ->capture_default_str();
  cmd->add_flag("--both-strands", f->both_strands,
                "With --score-variants: average each window with its reverse complement");
  cmd->add_option("--batch", f->batch, "With --score-variants: windows per forward batch")
      ->capture_default_str();
}

absl::Status ApplyVariantFlags(const VariantFlags& f, evo2::v1::SubmitJobRequest& r) {
  if (!f.score_variants) return absl::OkStatus();
  if (f.vcf.empty()) return absl::InvalidArgumentError("--score-variants needs --vcf");
  if (f.reference.empty() == f.reference_fasta.empty()) {
    return absl::InvalidArgumentError(
        "--score-variants needs exactly one of --reference NAME and --reference-fasta FILE");
  }
  evo2::v1::VariantScoringInput* v = r.mutable_variants();
  if (absl::Status s = ReadFlagFile("--vcf", f.vcf, v->mutable_vcf()); !s.ok()) return s;
  if (!f.reference.empty()) {
    v->set_reference_name(f.reference);
  } else if (absl::Status s =
                 ReadFlagFile("--reference-fasta", f.reference_fasta, v->mutable_reference_fasta());
             !s.ok()) {
    return s;
  }
  v->set_window_bases(f.window);
  v->set_both_strands(f.both_strands);
  v->set_batch_windows(f.batch);
  return absl::OkStatus();
}

std::string VariantProgressLine(const evo2::v1::JobEvent& ev) {
  const evo2::v1::VariantProgress& p = ev.variants();
  return absl::StrFormat("variants  %d/%d VCF records, %d windows, %d tokens", p.records_done(),
                         p.records_total(), p.windows_scored(), p.tokens_scored());
}

absl::Status WriteResultFiles(const evo2::v1::RecordResult& record, const std::string& dir) {
  for (const evo2::v1::ResultFile& f : record.files()) {
    const std::filesystem::path name(f.name());
    if (f.name().empty() || name.filename() != name || f.name() == "." || f.name() == "..") {
      return absl::DataLossError(absl::StrCat("the server sent a result file named '",
                                              f.name().substr(0, 80),
                                              "', which is not a plain file name"));
    }
    const std::filesystem::path path = std::filesystem::path(dir) / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(f.data().data(), static_cast<std::streamsize>(f.data().size()));
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
    std::cout << "wrote " << path.string() << " (" << f.data().size() << " bytes)\n";
  }
  return absl::OkStatus();
}

}  // namespace evo2::client
