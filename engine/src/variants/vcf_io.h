// VCF/BCF input and annotated VCF/BCF output through htslib (no parser of our own).
// Input: .vcf, .vcf.gz (bgzip or plain gzip) or .bcf, read in file order; no index is needed.
// Output: the input's header with this engine's INFO and FILTER lines (docs/variant-scoring.md
// §4) and every input record, annotated; bgzf-compressed when the name ends in .gz/.bgz, BCF
// when it ends in .bcf. Written to `<output>.partial` and renamed on Finish, so an interrupted
// run leaves no half-written file under the final name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "variants/variant_issue.h"

typedef struct htsFile htsFile;
typedef struct bcf_hdr_t bcf_hdr_t;
typedef struct bcf1_t bcf1_t;

namespace evo2::variants {

// Owning handles for htslib objects.
struct HtsCloser {
  void operator()(htsFile* f) const;
};
struct HdrDeleter {
  void operator()(bcf_hdr_t* h) const;
};
struct RecDeleter {
  void operator()(bcf1_t* r) const;
};
using HtsFilePtr = std::unique_ptr<htsFile, HtsCloser>;
using HeaderPtr = std::unique_ptr<bcf_hdr_t, HdrDeleter>;
using RecordPtr = std::unique_ptr<bcf1_t, RecDeleter>;

class VcfReader {
 public:
  static absl::StatusOr<std::unique_ptr<VcfReader>> Open(const std::filesystem::path& path);
  bcf_hdr_t* header() const { return header_.get(); }
  // The next record, unpacked up to its alleles, or nullptr after the last one. A record htslib
  // cannot parse is an error naming the file and the record's number (1-based).
  absl::StatusOr<RecordPtr> Next();
  int64_t records_read() const { return records_read_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  HtsFilePtr file_;
  HeaderPtr header_;
  int64_t records_read_ = 0;
};

// Reads the whole input once: the number of records, and the header as it stands after every
// record was read (htslib adds a line for each contig or tag a record uses without declaring
// it; the output header must hold them before the first record is written).
struct VcfPrescan {
  int64_t records = 0;
  HeaderPtr final_header;
};
absl::StatusOr<VcfPrescan> PrescanVcf(const std::filesystem::path& path);

// What one record gets written with.
struct AlleleAnnotation {
  VariantIssue issue = VariantIssue::kNone;
  double delta = 0, alt_score = 0;
};
struct RecordAnnotation {
  VariantIssue record_issue = VariantIssue::kNone;  // applies to every allele
  std::vector<AlleleAnnotation> alleles;            // one per ALT
  double ref_score = 0;
  int64_t window_start = 0;  // 1-based first base of the ref window
  int64_t window_bases = 0;
  bool edge = false;  // RecordWindows::off_centre
  bool unsorted = false;
  bool any_scored() const;
};

struct VcfRunInfo {
  std::string model_name;
  std::string precision_name;
  int64_t window_bases = 0;
  int strands = 1;
};

class AnnotatedVcfWriter {
 public:
  // `header` is the prescan's final header; it is copied and extended.
  static absl::StatusOr<std::unique_ptr<AnnotatedVcfWriter>> Open(const std::filesystem::path& path,
                                                                  const bcf_hdr_t* header,
                                                                  const VcfRunInfo& info);
  ~AnnotatedVcfWriter();
  absl::Status Write(bcf1_t* record, const RecordAnnotation& annotation);
  // Closes the file and renames it to its final name.
  absl::Status Finish();

 private:
  std::filesystem::path path_;
  std::filesystem::path partial_;
  HtsFilePtr file_;
  HeaderPtr header_;
  VcfRunInfo info_;
  bool finished_ = false;
};

}  // namespace evo2::variants
