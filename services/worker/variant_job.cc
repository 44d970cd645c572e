#include "variant_job.h"

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "evo2/status_macros.h"
#include "evo2/variant_scoring.h"

namespace evo2::svc {
namespace {

constexpr absl::Duration kVariantProgressInterval = absl::Milliseconds(250);

// A fresh directory only this process can read (mkdtemp: mode 0700), removed on destruction.
class ScratchDir {
 public:
  static absl::StatusOr<std::filesystem::path> Create() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "evo2-variants-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot create a scratch directory in ",
                                                 std::filesystem::temp_directory_path().string()));
    }
    return std::filesystem::path(tmpl);
  }
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

absl::Status WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path.filename().string()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::DataLossError(absl::StrCat("cannot read ", path.filename().string()));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The engine names files by their path; the job's owner knows them by the request's fields.
absl::Status WithoutScratchPath(const absl::Status& s, const std::filesystem::path& dir) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrReplaceAll(s.message(), {{dir.string() + "/", ""}}));
}

}  // namespace

absl::StatusOr<evo2::v1::RecordResult> ScoreVariantJob(const VariantJobEngine& engine,
                                                       const evo2::v1::JobInput& job,
                                                       const std::atomic<bool>* cancelled,
                                                       const VariantProgressPublisher& publish) {
  const auto t0 = std::chrono::steady_clock::now();
  const evo2::v1::VariantScoringInput& in = job.variants();
  ASSIGN_OR_RETURN(const std::filesystem::path dir_path, ScratchDir::Create());
  const ScratchDir dir(dir_path);

  VariantScoringOptions o;
  o.vcf = dir.path() / "input.vcf";  // htslib tells VCF, bgzip/gzip and BCF apart by content
  RETURN_IF_ERROR(WriteFile(o.vcf, in.vcf()));
  if (in.reference_case() == evo2::v1::VariantScoringInput::kReferenceName) {
    auto it = engine.references.find(in.reference_name());
    if (it == engine.references.end()) {
      std::vector<std::string> names;
      for (const auto& [name, path] : engine.references) names.push_back(name);
      return absl::FailedPreconditionError(absl::StrCat(
          "worker ", engine.worker_id, " has no reference '", in.reference_name(),
          "' (it has: ", names.empty() ? "none" : absl::StrJoin(names, ", "),
          "); every worker of a model should be started with the same --reference flags"));
    }
    o.reference = it->second;
  } else {
    o.reference = dir.path() / "reference.fa";  // plain or bgzipped; its .fai is built here
    RETURN_IF_ERROR(WriteFile(o.reference, in.reference_fasta()));
  }
  o.output = dir.path() / kVariantVcfFile;
  o.format = VariantOutputFormat::kVcf;
  o.tsv = dir.path() / kVariantTsvFile;
  o.window_bases = in.window_bases();
  o.both_strands = in.both_strands();
  o.batch_windows = in.batch_windows();
  o.model_name = engine.vcf_model_name;
  o.precision_name = engine.vcf_precision_name;

  absl::Status publish_status;
  absl::Time last_publish = absl::InfinitePast();
  bool published_last = false;
  auto report = [&](const VariantScoringProgress& p) {
    // The engine may report the finished count twice (after the last batch and the last chunk).
    const bool last = p.records_done == p.records_total;
    if (!publish_status.ok() || (last && published_last) ||
        (!last && absl::Now() - last_publish < kVariantProgressInterval)) {
      return;
    }
    published_last = last;
    evo2::v1::VariantProgress v;
    v.set_records_done(p.records_done);
    v.set_records_total(p.records_total);
    v.set_windows_scored(p.windows_scored);
    v.set_tokens_scored(p.tokens_scored);
    publish_status = publish(v);
    last_publish = absl::Now();
  };
  absl::StatusOr<VariantScoringSummary> summary =
      ScoreVariants(*engine.model, o, report, cancelled);
  RETURN_IF_ERROR(publish_status);  // a lost lease explains the engine's CANCELLED
  RETURN_IF_ERROR(WithoutScratchPath(summary.status(), dir.path()));

  evo2::v1::RecordResult out;
  out.set_record_index(0);
  out.set_record_name(kVariantResultName);
  out.set_num_tokens(summary->tokens_scored);
  struct OutFile {
    const char* name;
    const char* media_type;
  };
  for (const OutFile& f : {OutFile{kVariantVcfFile, "application/gzip"},
                           OutFile{kVariantTsvFile, "text/tab-separated-values"}}) {
    evo2::v1::ResultFile* rf = out.add_files();
    rf->set_name(f.name);
    rf->set_media_type(f.media_type);
    ASSIGN_OR_RETURN(*rf->mutable_data(), ReadFile(dir.path() / f.name));
  }
  out.set_forward_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

}  // namespace evo2::svc
