#include <fstream>

#include "absl/strings/str_cat.h"
#include "data/fasta_scanner.h"
#include "evo2/fasta.h"
#include "evo2/status_macros.h"

namespace evo2 {

FastaReader::FastaReader(std::unique_ptr<std::istream> in, std::unique_ptr<FastaScanner> scanner)
    : in_(std::move(in)), scanner_(std::move(scanner)) {}

FastaReader::~FastaReader() = default;

absl::StatusOr<std::unique_ptr<FastaReader>> FastaReader::Open(const std::filesystem::path& path,
                                                               const FastaOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " is a directory, not a FASTA file"));
  }
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*in) return absl::NotFoundError(absl::StrCat("cannot open FASTA file ", path.string()));
  return FromStream(std::move(in), path.string(), options);
}

std::unique_ptr<FastaReader> FastaReader::FromStream(std::unique_ptr<std::istream> in,
                                                     std::string display_name,
                                                     const FastaOptions& options) {
  auto scanner = std::make_unique<FastaScanner>(*in, std::move(display_name), options,
                                                /*keep_sequence=*/true);
  return std::unique_ptr<FastaReader>(new FastaReader(std::move(in), std::move(scanner)));
}

absl::StatusOr<std::optional<FastaRecord>> FastaReader::Next() {
  ASSIGN_OR_RETURN(auto scanned, scanner_->Next());
  if (!scanned.has_value()) return std::nullopt;
  ScannedRecord& r = *scanned;
  FastaRecord record;
  record.name = std::move(r.fai.name);
  record.description = std::move(r.description);
  record.sequence = std::move(r.sequence);
  record.header_line = r.header_line;
  return record;
}

}  // namespace evo2
