#include "variants/variant_tsv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace evo2::variants {

absl::StatusOr<std::unique_ptr<VariantTsvWriter>> VariantTsvWriter::Open(
    const std::filesystem::path& path) {
  auto file = io::AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  std::unique_ptr<VariantTsvWriter> w(new VariantTsvWriter(std::move(*file)));
  if (auto st = w->file_.Write("chrom\tpos\tid\tref\talt\tstatus\tdelta\tref_ll\talt_ll\t"
                               "window_start\twindow_bases\tedge\tunsorted\n");
      !st.ok()) {
    return st;
  }
  return w;
}

absl::Status VariantTsvWriter::Write(const TsvRecord& r, const RecordAnnotation& a) {
  std::string rows;
  const std::string head = absl::StrCat(r.chrom, "\t", r.pos, "\t", r.id, "\t", r.ref, "\t");
  const std::string tail = absl::StrCat("\t", a.edge ? 1 : 0, "\t", a.unsorted ? 1 : 0, "\n");
  if (r.alts.empty()) {  // ALT "."
    absl::StrAppend(&rows, head, ".\t", IssueFilterId(VariantIssue::kNoAlt), "\t.\t.\t.\t.\t.",
                    tail);
  }
  for (size_t i = 0; i < r.alts.size() && i < a.alleles.size(); ++i) {
    const AlleleAnnotation& al = a.alleles[i];
    const VariantIssue issue = a.record_issue != VariantIssue::kNone ? a.record_issue : al.issue;
    if (issue == VariantIssue::kNone) {
      absl::StrAppend(&rows, head, r.alts[i], "\tok\t",
                      absl::StrFormat("%.17g\t%.17g\t%.17g\t%d\t%d", al.delta, a.ref_score,
                                      al.alt_score, a.window_start, a.window_bases),
                      tail);
    } else {
      absl::StrAppend(&rows, head, r.alts[i], "\t", IssueFilterId(issue), "\t.\t.\t.\t.\t.", tail);
    }
  }
  return file_.Write(rows);
}

absl::Status VariantTsvWriter::Finish() { return file_.Commit(); }

}  // namespace evo2::variants
