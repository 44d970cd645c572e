#include "variants/vcf_io.h"

#include <htslib/hts.h>
#include <htslib/vcf.h>

#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace evo2::variants {

void HtsCloser::operator()(htsFile* f) const {
  if (f != nullptr) hts_close(f);
}
void HdrDeleter::operator()(bcf_hdr_t* h) const {
  if (h != nullptr) bcf_hdr_destroy(h);
}
void RecDeleter::operator()(bcf1_t* r) const {
  if (r != nullptr) bcf_destroy(r);
}

namespace {

std::string ErrorName(int errcode) {
  std::vector<std::string> names;
  if (errcode & BCF_ERR_NCOLS) names.push_back("too few columns");
  if (errcode & BCF_ERR_LIMITS) names.push_back("a value past htslib's limits");
  if (errcode & BCF_ERR_CHAR) names.push_back("an invalid character");
  if (errcode & BCF_ERR_CTG_INVALID) names.push_back("an invalid contig name");
  if (errcode & BCF_ERR_TAG_INVALID) names.push_back("an invalid tag");
  if (names.empty()) names.push_back("malformed line");
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<std::unique_ptr<VcfReader>> VcfReader::Open(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("VCF ", path.string(), ": no such file"));
  }
  auto r = std::make_unique<VcfReader>();
  r->path_ = path;
  r->file_.reset(hts_open(path.c_str(), "r"));
  if (r->file_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("VCF ", path.string(), ": htslib cannot open it"));
  }
  const htsFormat* format = hts_get_format(r->file_.get());
  if (format->category != variant_data) {
    return absl::InvalidArgumentError(
        absl::StrCat("VCF ", path.string(), ": not a VCF or BCF file"));
  }
  r->header_.reset(bcf_hdr_read(r->file_.get()));
  if (r->header_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("VCF ", path.string(),
                                                   ": the header cannot be read (no ##fileformat / "
                                                   "#CHROM line, or a malformed header line)"));
  }
  return r;
}

absl::StatusOr<RecordPtr> VcfReader::Next() {
  RecordPtr rec(bcf_init());
  const int rc = bcf_read(file_.get(), header_.get(), rec.get());
  if (rc == -1) return RecordPtr();
  ++records_read_;
  // A contig or tag missing from the header is declared by htslib on the fly (with a warning):
  // harmless here, the prescan's header carries the added lines into the output.
  rec->errcode &= ~(BCF_ERR_CTG_UNDEF | BCF_ERR_TAG_UNDEF);
  if (rc < -1 || rec->errcode != 0) {
    return absl::InvalidArgumentError(absl::StrCat("VCF ", path_.string(), ": record ",
                                                   records_read_, " cannot be parsed by htslib (",
                                                   ErrorName(rec->errcode), ")"));
  }
  // htslib accepts a line short of sample columns but refuses to write it back.
  if (rec->n_sample != static_cast<uint32_t>(bcf_hdr_nsamples(header_.get()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("VCF ", path_.string(), ": record ", records_read_, " has ", rec->n_sample,
                     " sample columns, the header names ", bcf_hdr_nsamples(header_.get())));
  }
  if (bcf_unpack(rec.get(), BCF_UN_STR) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("VCF ", path_.string(), ": record ", records_read_, " cannot be unpacked"));
  }
  return rec;
}

absl::StatusOr<VcfPrescan> PrescanVcf(const std::filesystem::path& path) {
  auto reader = VcfReader::Open(path);
  if (!reader.ok()) return reader.status();
  VcfPrescan scan;
  while (true) {
    auto rec = (*reader)->Next();
    if (!rec.ok()) return rec.status();
    if (*rec == nullptr) break;
    ++scan.records;
  }
  scan.final_header.reset(bcf_hdr_dup((*reader)->header()));
  if (scan.final_header == nullptr) {
    return absl::InternalError(absl::StrCat("VCF ", path.string(), ": cannot copy the header"));
  }
  return scan;
}

bool RecordAnnotation::any_scored() const {
  if (record_issue != VariantIssue::kNone) return false;
  for (const AlleleAnnotation& a : alleles) {
    if (a.issue == VariantIssue::kNone) return true;
  }
  return false;
}

namespace {

const char* OpenMode(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (absl::EndsWith(name, ".bcf")) return "wb";
  if (absl::EndsWith(name, ".gz") || absl::EndsWith(name, ".bgz")) return "wz";
  return "w";
}

absl::Status Append(bcf_hdr_t* h, const std::string& line) {
  if (bcf_hdr_append(h, line.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot add VCF header line ", line));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AnnotatedVcfWriter>> AnnotatedVcfWriter::Open(
    const std::filesystem::path& path, const bcf_hdr_t* header, const VcfRunInfo& info) {
  auto w = std::unique_ptr<AnnotatedVcfWriter>(new AnnotatedVcfWriter());
  w->path_ = path;
  w->partial_ = path;
  w->partial_ += ".partial";
  w->info_ = info;
  w->header_.reset(bcf_hdr_dup(header));
  if (w->header_ == nullptr) return absl::InternalError("cannot copy the VCF header");
  bcf_hdr_t* h = w->header_.get();
  const std::string strands = info.strands == 2 ? "mean of both strands" : "forward strand";
  const std::pair<const char*, std::string> lines[] = {
      {"EVO2_DELTA", absl::StrCat("##INFO=<ID=EVO2_DELTA,Number=A,Type=Float,Description=\"Evo 2 "
                                  "delta log-likelihood S(alt window) - S(ref window), ",
                                  strands, "; missing when the allele was not scored\">")},
      {"EVO2_REF_LL", absl::StrCat("##INFO=<ID=EVO2_REF_LL,Number=1,Type=Float,Description=\"Evo 2 "
                                   "log-likelihood S of the ref window (sum of next-base "
                                   "log-probs, bases 2..L), ",
                                   strands, "\">")},
      {"EVO2_ALT_LL", absl::StrCat("##INFO=<ID=EVO2_ALT_LL,Number=A,Type=Float,Description=\"Evo 2 "
                                   "log-likelihood S of each alt window, ",
                                   strands, "\">")},
      {"EVO2_WINDOW",
       "##INFO=<ID=EVO2_WINDOW,Number=2,Type=Integer,Description=\"Evo 2 ref "
       "window: 1-based first base on the reference contig, and length\">"},
      {"EVO2_EDGE",
       "##INFO=<ID=EVO2_EDGE,Number=0,Type=Flag,Description=\"Evo 2 window moved "
       "off-centre or shortened: a contig end is near, or an ALT is too long for "
       "the shared left flank\">"},
      {"EVO2_STATUS",
       "##INFO=<ID=EVO2_STATUS,Number=A,Type=String,Description=\"Evo 2 scoring "
       "status per ALT: ok, or the EVO2_* FILTER id saying why it was not "
       "scored\">"},
      {"EVO2_UNSORTED",
       "##INFO=<ID=EVO2_UNSORTED,Number=0,Type=Flag,Description=\"Record comes "
       "before its predecessor in the file (scored all the same)\">"},
      {"EVO2_MODEL",
       "##INFO=<ID=EVO2_MODEL,Number=1,Type=String,Description=\"Evo 2 model that "
       "scored the record\">"},
      {"EVO2_PRECISION",
       "##INFO=<ID=EVO2_PRECISION,Number=1,Type=String,Description=\"Compute "
       "precision of the scoring backend\">"},
  };
  for (const auto& [id, line] : lines) {
    (void)id;
    if (auto st = Append(h, line); !st.ok()) return st;
  }
  for (VariantIssue issue : kAllIssues) {
    if (auto st = Append(h, absl::StrCat("##FILTER=<ID=", IssueFilterId(issue), ",Description=\"",
                                         IssueDescription(issue), "\">"));
        !st.ok()) {
      return st;
    }
  }
  if (auto st = Append(h, absl::StrCat("##evo2_score_variants=<Model=\"", info.model_name,
                                       "\",Precision=", info.precision_name, ",WindowBases=",
                                       info.window_bases, ",Strands=", info.strands, ">"));
      !st.ok()) {
    return st;
  }
  if (bcf_hdr_sync(h) != 0) return absl::InternalError("cannot finalise the VCF header");
  w->file_.reset(hts_open(w->partial_.c_str(), OpenMode(path)));
  if (w->file_ == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("output ", path.string(), ": cannot create ", w->partial_.string()));
  }
  if (bcf_hdr_write(w->file_.get(), h) != 0) {
    return absl::DataLossError(absl::StrCat("output ", path.string(), ": cannot write the header"));
  }
  return w;
}

AnnotatedVcfWriter::~AnnotatedVcfWriter() {
  if (!finished_) {
    file_.reset();
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }
}

absl::Status AnnotatedVcfWriter::Write(bcf1_t* rec, const RecordAnnotation& a) {
  bcf_hdr_t* h = header_.get();
  const size_t n_alt = a.alleles.size();
  std::vector<float> delta(n_alt), alt_ll(n_alt);
  std::vector<std::string> status(n_alt);
  std::set<std::string> issues;
  for (size_t i = 0; i < n_alt; ++i) {
    const AlleleAnnotation& al = a.alleles[i];
    const VariantIssue issue = a.record_issue != VariantIssue::kNone ? a.record_issue : al.issue;
    if (issue == VariantIssue::kNone) {
      delta[i] = static_cast<float>(al.delta);
      alt_ll[i] = static_cast<float>(al.alt_score);
      status[i] = "ok";
    } else {
      bcf_float_set_missing(delta[i]);
      bcf_float_set_missing(alt_ll[i]);
      status[i] = IssueFilterId(issue);
      issues.insert(status[i]);
    }
  }
  if (n_alt == 0) issues.insert(IssueFilterId(VariantIssue::kNoAlt));
  int rc = 0;
  const bool scored = a.any_scored();
  if (scored) {
    const float ref_ll = static_cast<float>(a.ref_score);
    const int32_t window[2] = {static_cast<int32_t>(a.window_start),
                               static_cast<int32_t>(a.window_bases)};
    rc |= bcf_update_info_float(h, rec, "EVO2_DELTA", delta.data(), static_cast<int>(n_alt));
    rc |= bcf_update_info_float(h, rec, "EVO2_REF_LL", &ref_ll, 1);
    rc |= bcf_update_info_float(h, rec, "EVO2_ALT_LL", alt_ll.data(), static_cast<int>(n_alt));
    rc |= bcf_update_info_int32(h, rec, "EVO2_WINDOW", window, 2);
    rc |= bcf_update_info_string(h, rec, "EVO2_MODEL", info_.model_name.c_str());
    rc |= bcf_update_info_string(h, rec, "EVO2_PRECISION", info_.precision_name.c_str());
    if (a.edge) rc |= bcf_update_info_flag(h, rec, "EVO2_EDGE", nullptr, 1);
  } else {
    // A record with no scored allele says why in FILTER (every distinct reason).
    for (const std::string& id : issues) {
      rc |= bcf_add_filter(h, rec, bcf_hdr_id2int(h, BCF_DT_ID, id.c_str()));
    }
  }
  if (n_alt > 0) {
    const std::string joined = absl::StrJoin(status, ",");
    rc |= bcf_update_info_string(h, rec, "EVO2_STATUS", joined.c_str());
  }
  if (a.unsorted) rc |= bcf_update_info_flag(h, rec, "EVO2_UNSORTED", nullptr, 1);
  if (rc < 0) {
    return absl::InternalError(absl::StrCat(
        "output ", path_.string(), ": htslib cannot annotate record at position ", rec->pos + 1));
  }
  if (bcf_write(file_.get(), h, rec) != 0) {
    return absl::DataLossError(absl::StrCat("output ", path_.string(), ": write failed"));
  }
  return absl::OkStatus();
}

absl::Status AnnotatedVcfWriter::Finish() {
  if (hts_close(file_.release()) != 0) {
    return absl::DataLossError(absl::StrCat("output ", partial_.string(), ": close failed"));
  }
  std::error_code ec;
  std::filesystem::rename(partial_, path_, ec);
  if (ec) {
    return absl::DataLossError(absl::StrCat("output ", path_.string(), ": ", ec.message()));
  }
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace evo2::variants
