// ScoreVariants (evo2/variant_scoring.h): VCF records -> windows -> WindowScorer -> annotated
// VCF and/or TSV. Records are read in file order in chunks; the windows of a chunk are scored
// together (batched, each distinct sequence once), then the chunk is written in input order.
// Rules: docs/variant-scoring.md.
#include <htslib/hts_log.h>
#include <htslib/vcf.h>

#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "evo2/variant_scoring.h"
#include "variants/allele.h"
#include "variants/reference_genome.h"
#include "variants/variant_tsv.h"
#include "variants/variant_windows.h"
#include "variants/vcf_io.h"
#include "variants/window_scorer.h"

namespace evo2 {
namespace {

using variants::AlleleAnnotation;
using variants::RecordAnnotation;
using variants::RecordPtr;
using variants::VariantIssue;
using variants::WindowScorer;

// A record waiting for its windows' scores.
struct PendingRecord {
  RecordPtr record;
  variants::TsvRecord text;
  RecordAnnotation annotation;
  const WindowScorer::Entry* ref_window = nullptr;
  std::vector<const WindowScorer::Entry*> alt_windows;  // [ALTs], null when not scored
};

// Detects records out of file order: a POS below its predecessor's on the same contig, or a
// contig that was left earlier and comes back.
class OrderCheck {
 public:
  bool InOrder(const std::string& chrom, int64_t pos) {
    if (chrom == current_) {
      const bool ok = pos >= last_pos_;
      last_pos_ = std::max(last_pos_, pos);
      return ok;
    }
    const bool ok = !left_.contains(chrom);
    if (!current_.empty()) left_.insert(current_);
    current_ = chrom;
    last_pos_ = pos;
    return ok;
  }

 private:
  std::string current_;
  int64_t last_pos_ = 0;
  std::set<std::string> left_;
};

// Fills `p` from its record: checks, windows, and the sequences handed to the scorer.
absl::Status Prepare(const bcf_hdr_t* header, const variants::ReferenceGenome& genome,
                     int64_t window_bases, WindowScorer& scorer, OrderCheck& order,
                     VariantScoringSummary& summary, PendingRecord& p) {
  bcf1_t* rec = p.record.get();
  RecordAnnotation& a = p.annotation;
  p.text.chrom = bcf_seqname_safe(header, rec);
  p.text.pos = rec->pos + 1;
  p.text.id = rec->d.id != nullptr ? rec->d.id : ".";
  p.text.ref = rec->n_allele > 0 ? rec->d.allele[0] : "";
  const int n_alt = std::max(0, static_cast<int>(rec->n_allele) - 1);
  for (int i = 0; i < n_alt; ++i) {
    p.text.alts.emplace_back(rec->d.allele[i + 1]);  // ALT "." alone gives no allele
  }
  a.alleles.resize(p.text.alts.size());
  p.alt_windows.assign(p.text.alts.size(), nullptr);
  a.unsorted = !order.InOrder(p.text.chrom, rec->pos);
  if (a.unsorted) ++summary.unsorted_records;
  if (p.text.alts.empty()) {
    a.record_issue = VariantIssue::kNoAlt;
    return absl::OkStatus();
  }
  const auto contig = genome.Resolve(p.text.chrom);
  if (!contig) {
    a.record_issue = VariantIssue::kNoContig;
    return absl::OkStatus();
  }
  const std::string& ref = p.text.ref;
  if (a.record_issue = variants::ClassifyRef(ref); a.record_issue != VariantIssue::kNone) {
    return absl::OkStatus();
  }
  const int64_t pos0 = rec->pos;
  const auto r = static_cast<int64_t>(ref.size());
  if (pos0 < 0 || pos0 + r > contig->bases) {
    a.record_issue = VariantIssue::kOutOfRange;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const std::string at_pos, genome.Fetch(*contig, pos0, pos0 + r));
  if (!variants::SameBases(ref, at_pos)) {
    a.record_issue = VariantIssue::kRefMismatch;
    return absl::OkStatus();
  }
  std::vector<int64_t> alt_bases(p.text.alts.size(), -1);  // -1: not scored
  for (size_t i = 0; i < p.text.alts.size(); ++i) {
    a.alleles[i].issue = variants::ClassifyAlt(p.text.alts[i]);
    if (a.alleles[i].issue == VariantIssue::kNone) {
      alt_bases[i] = static_cast<int64_t>(p.text.alts[i].size());
    }
  }
  if (!a.any_scored()) return absl::OkStatus();
  const variants::RecordWindows w =
      variants::PlanRecordWindows(contig->bases, pos0, r, alt_bases, window_bases);
  if (w.issue != VariantIssue::kNone) {
    a.record_issue = w.issue;
    return absl::OkStatus();
  }
  a.window_start = w.ref_start + 1;
  a.window_bases = w.length;
  a.edge = w.off_centre;
  ASSIGN_OR_RETURN(const std::string ref_window,
                   genome.Fetch(*contig, w.ref_start, w.ref_start + w.length));
  if (!variants::HasNucleotide(ref_window)) {
    a.record_issue = VariantIssue::kNWindow;
    return absl::OkStatus();
  }
  for (size_t i = 0; i < p.text.alts.size(); ++i) {
    AlleleAnnotation& al = a.alleles[i];
    if (al.issue != VariantIssue::kNone) continue;
    if (w.alts[i].issue != VariantIssue::kNone) {
      al.issue = w.alts[i].issue;
      continue;
    }
    const variants::AltWindow& aw = w.alts[i];
    std::string alt_window;
    alt_window.reserve(static_cast<size_t>(w.length));
    if (aw.left_bases > 0) {
      ASSIGN_OR_RETURN(auto left, genome.Fetch(*contig, aw.left_start, pos0));
      alt_window += left;
    }
    alt_window += p.text.alts[i];
    if (aw.right_bases > 0) {
      ASSIGN_OR_RETURN(auto right, genome.Fetch(*contig, pos0 + r, pos0 + r + aw.right_bases));
      alt_window += right;
    }
    if (static_cast<int64_t>(alt_window.size()) != w.length) {
      return absl::InternalError(absl::StrCat("alt window of ", p.text.chrom, ":", p.text.pos,
                                              " has ", alt_window.size(), " bases, not ",
                                              w.length));
    }
    if (!variants::HasNucleotide(alt_window)) {
      al.issue = VariantIssue::kNWindow;
      continue;
    }
    bool reused = false;
    p.alt_windows[i] = scorer.Add(alt_window, &reused);
    if (reused) ++summary.windows_reused;
  }
  if (!a.any_scored()) return absl::OkStatus();
  bool reused = false;
  p.ref_window = scorer.Add(ref_window, &reused);
  if (reused) ++summary.windows_reused;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VariantScoringSummary> ScoreVariants(
    Model& model, const VariantScoringOptions& options,
    const std::function<void(const VariantScoringProgress&)>& progress,
    const std::atomic<bool>* cancelled) {
  if (options.window_bases < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("window of ", options.window_bases,
                     " bases: at least 2 are needed (the first base of a "
                     "window is context only)"));
  }
  const bool want_vcf = options.format == VariantOutputFormat::kVcf;
  if (options.output.empty()) return absl::InvalidArgumentError("no output file given");
  // The slow-to-fail parts first: reference, then the whole VCF (prescan), then outputs.
  ASSIGN_OR_RETURN(auto genome, variants::ReferenceGenome::Open(options.reference));
  ASSIGN_OR_RETURN(variants::VcfPrescan prescan, variants::PrescanVcf(options.vcf));
  // htslib's warnings about the input (undeclared contigs, ...) were printed by the prescan;
  // the second pass would print them again.
  struct QuietHtslib {
    htsLogLevel saved = hts_get_log_level();
    QuietHtslib() { hts_set_log_level(HTS_LOG_ERROR); }
    ~QuietHtslib() { hts_set_log_level(saved); }
  } quiet_htslib;
  ASSIGN_OR_RETURN(auto reader, variants::VcfReader::Open(options.vcf));

  variants::VcfRunInfo info;
  info.model_name = options.model_name;
  info.precision_name = options.precision_name;
  info.window_bases = options.window_bases;
  info.strands = options.both_strands ? 2 : 1;
  std::unique_ptr<variants::AnnotatedVcfWriter> vcf_out;
  std::unique_ptr<variants::VariantTsvWriter> tsv_out;
  if (want_vcf) {
    ASSIGN_OR_RETURN(vcf_out, variants::AnnotatedVcfWriter::Open(options.output,
                                                                 prescan.final_header.get(), info));
  }
  const std::filesystem::path tsv_path = want_vcf ? options.tsv : options.output;
  if (!tsv_path.empty()) {
    ASSIGN_OR_RETURN(tsv_out, variants::VariantTsvWriter::Open(tsv_path));
  }

  VariantScoringSummary summary;
  VariantScoringProgress prog;
  prog.records_total = prescan.records;
  WindowScorer scorer(model, options.both_strands, options.batch_windows, options.shared_prefix);
  OrderCheck order;
  // Chunks hold this many pending windows (or records) before they are scored: a few batches,
  // so that progress is reported often and memory stays at a few windows per batch slot.
  const size_t chunk_windows = static_cast<size_t>(std::max(1, options.batch_windows)) * 4;
  const size_t chunk_records = 256;
  std::vector<PendingRecord> chunk;
  size_t chunk_pending_windows = 0;

  auto flush = [&]() -> absl::Status {
    RETURN_IF_ERROR(scorer.ScorePending(cancelled, [&](int64_t forwards, int64_t tokens) {
      summary.windows_scored += forwards;
      summary.tokens_scored += tokens;
      prog.windows_scored = summary.windows_scored;
      prog.tokens_scored = summary.tokens_scored;
      // Windows are scored in record order: count the records of the chunk now complete.
      int64_t complete = 0;
      for (const PendingRecord& p : chunk) {
        bool all = p.ref_window == nullptr || p.ref_window->scored;
        for (const auto* w : p.alt_windows) all = all && (w == nullptr || w->scored);
        if (!all) break;
        ++complete;
      }
      prog.records_done = summary.records + complete;
      if (progress) progress(prog);
    }));
    for (PendingRecord& p : chunk) {
      RecordAnnotation& a = p.annotation;
      if (p.ref_window != nullptr) a.ref_score = p.ref_window->score;
      for (size_t i = 0; i < a.alleles.size(); ++i) {
        AlleleAnnotation& al = a.alleles[i];
        if (al.issue != VariantIssue::kNone || p.alt_windows[i] == nullptr) continue;
        al.alt_score = p.alt_windows[i]->score;
        al.delta = al.alt_score - a.ref_score;
      }
      for (size_t i = 0; i < a.alleles.size(); ++i) {
        const bool ok =
            a.record_issue == VariantIssue::kNone && a.alleles[i].issue == VariantIssue::kNone;
        ++(ok ? summary.alleles_scored : summary.alleles_unscored);
      }
      if (a.alleles.empty()) ++summary.alleles_unscored;
      if (vcf_out) RETURN_IF_ERROR(vcf_out->Write(p.record.get(), a));
      if (tsv_out) RETURN_IF_ERROR(tsv_out->Write(p.text, a));
      ++summary.records;
    }
    prog.records_done = summary.records;
    if (progress) progress(prog);
    chunk.clear();
    chunk_pending_windows = 0;
    scorer.StartChunk();
    return absl::OkStatus();
  };

  while (true) {
    if (cancelled != nullptr && cancelled->load()) {
      return absl::CancelledError("interrupted; no output written");
    }
    ASSIGN_OR_RETURN(RecordPtr rec, reader->Next());
    if (rec == nullptr) break;
    PendingRecord p;
    p.record = std::move(rec);
    RETURN_IF_ERROR(
        Prepare(reader->header(), *genome, options.window_bases, scorer, order, summary, p));
    chunk_pending_windows += (p.ref_window != nullptr ? 1 : 0) + p.alt_windows.size();
    chunk.push_back(std::move(p));
    if (chunk_pending_windows >= chunk_windows || chunk.size() >= chunk_records) {
      RETURN_IF_ERROR(flush());
    }
  }
  RETURN_IF_ERROR(flush());
  if (reader->records_read() != prescan.records) {
    return absl::DataLossError(absl::StrCat("VCF ", options.vcf.string(),
                                            " changed while read: ", prescan.records,
                                            " records, then ", reader->records_read()));
  }
  summary.windows_from_shared_prefix = scorer.windows_from_shared_prefix();
  if (vcf_out) RETURN_IF_ERROR(vcf_out->Finish());
  if (tsv_out) RETURN_IF_ERROR(tsv_out->Finish());
  return summary;
}

}  // namespace evo2
