#include "variants/reference_genome.h"

#include <htslib/faidx.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace evo2::variants {

struct ReferenceGenome::Faidx {
  faidx_t* fai = nullptr;
  ~Faidx() {
    if (fai != nullptr) fai_destroy(fai);
  }
};

ReferenceGenome::ReferenceGenome(std::unique_ptr<Faidx> fai, std::filesystem::path path)
    : fai_(std::move(fai)), path_(std::move(path)) {}

ReferenceGenome::~ReferenceGenome() = default;

absl::StatusOr<std::unique_ptr<ReferenceGenome>> ReferenceGenome::Open(
    const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("reference ", path.string(), ": no such file"));
  }
  auto fai = std::make_unique<Faidx>();
  // FAI_CREATE: build <ref>.fai (and <ref>.gzi for bgzip) when missing, like samtools faidx.
  fai->fai = fai_load3(path.c_str(), nullptr, nullptr, FAI_CREATE);
  if (fai->fai == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reference ", path.string(),
        ": htslib cannot index it (not FASTA, compressed with gzip rather than bgzip, lines of "
        "unequal length, or the directory is not writable for its .fai)"));
  }
  return std::unique_ptr<ReferenceGenome>(new ReferenceGenome(std::move(fai), path));
}

std::optional<ReferenceGenome::Contig> ReferenceGenome::Resolve(const std::string& chrom) const {
  std::string candidates[2] = {
      chrom, absl::StartsWith(chrom, "chr") ? chrom.substr(3) : absl::StrCat("chr", chrom)};
  for (const std::string& name : candidates) {
    if (name.empty() || faidx_has_seq(fai_->fai, name.c_str()) == 0) continue;
    const int bases = faidx_seq_len(fai_->fai, name.c_str());  // -1 on error
    if (bases < 0) continue;
    return Contig{name, static_cast<int64_t>(bases)};
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ReferenceGenome::Fetch(const Contig& contig, int64_t start,
                                                   int64_t end) const {
  if (start < 0 || end > contig.bases || start >= end) {
    return absl::OutOfRangeError(absl::StrCat("reference ", path_.string(), ": range ", start, "-",
                                              end, " outside contig ", contig.name, " of ",
                                              contig.bases, " bases"));
  }
  hts_pos_t got = 0;
  // faidx takes an inclusive end.
  char* bases = faidx_fetch_seq64(fai_->fai, contig.name.c_str(), start, end - 1, &got);
  if (bases == nullptr || got != end - start) {
    std::free(bases);
    return absl::DataLossError(absl::StrCat("reference ", path_.string(), ": cannot read ",
                                            contig.name, ":", start + 1, "-", end,
                                            " (truncated file or stale index)"));
  }
  std::string out(bases, static_cast<size_t>(got));
  std::free(bases);
  return out;
}

}  // namespace evo2::variants
