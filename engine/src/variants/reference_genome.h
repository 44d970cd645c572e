// A reference genome read through htslib's faidx: plain or bgzipped FASTA, random access by
// contig and range. A missing .fai (and .gzi) is built beside the file, as samtools does.
// Contig names are matched as given, then with a "chr" prefix added or removed, so a VCF
// naming "chr20" scores against a reference naming "20" and the other way round.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace evo2::variants {

class ReferenceGenome {
 public:
  // Fails with the path and htslib's reason: unreadable file, gzip that is not bgzip, ...
  static absl::StatusOr<std::unique_ptr<ReferenceGenome>> Open(const std::filesystem::path& path);
  ~ReferenceGenome();
  ReferenceGenome(const ReferenceGenome&) = delete;
  ReferenceGenome& operator=(const ReferenceGenome&) = delete;

  struct Contig {
    std::string name;  // as the reference spells it
    int64_t bases = 0;
  };
  // The contig a VCF CHROM names (as given, else with "chr" added or removed); nullopt if none.
  std::optional<Contig> Resolve(const std::string& vcf_chrom) const;

  // Bases [start, end) of `contig` (0-based, half-open), as stored (case kept). Fails when the
  // range is outside the contig or htslib cannot read it.
  absl::StatusOr<std::string> Fetch(const Contig& contig, int64_t start, int64_t end) const;

 private:
  struct Faidx;
  explicit ReferenceGenome(std::unique_ptr<Faidx> fai, std::filesystem::path path);
  std::unique_ptr<Faidx> fai_;
  std::filesystem::path path_;
};

}  // namespace evo2::variants
