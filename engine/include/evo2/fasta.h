// FASTA input: a streaming record reader and an indexed (random-access) view of a file.
//
// Format accepted (docs/spec/predict-cli.md §2.1-2.2): records start with a `>` header line; the
// record name is the header's first whitespace-delimited word, the rest is its description.
// Sequence lines are joined without their line breaks ("\n" or "\r\n"); blank lines are ignored;
// case and IUPAC codes are kept as given (upper-casing is the tokenizer's job). Rejected, each with
// an error naming the file, line and record: data before the first header (not FASTA), an empty
// file, a record without sequence, a duplicate record name (the reference raises too), bytes that
// are not printable ASCII in sequence lines (binary data, spaces, tabs, control characters), a
// header that is not UTF-8 text, and lines longer than the configured limits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/fai.h"

namespace evo2 {

struct FastaOptions {
  int64_t max_header_bytes = int64_t{1} << 20;  // a header line longer than 1 MiB is not FASTA
  int64_t max_line_bytes = int64_t{1} << 30;    // one sequence line; unwrapped chromosomes fit
  // When non-empty, the only letters accepted in sequence lines (either case), e.g. the IUPAC
  // nucleotide codes a service accepts; a letter outside it is refused with its record, line and
  // column. Empty: any printable ASCII letter, as the reference reads it.
  std::string alphabet;
};

struct FastaRecord {
  std::string name;         // first whitespace-delimited word of the header
  std::string description;  // the header after that word and its whitespace; may be empty
  std::string sequence;     // bases as in the file, line breaks removed
  int64_t header_line = 0;  // 1-based line number of the `>` header
};

class FastaScanner;  // engine/src/data/fasta_scanner.h

// Reads records one at a time, in file order; only the current record is held in memory.
class FastaReader {
 public:
  static absl::StatusOr<std::unique_ptr<FastaReader>> Open(const std::filesystem::path& path,
                                                           const FastaOptions& options = {});
  // Reads from a stream (e.g. a FASTA held in memory by the service). `display_name` is used in
  // error messages in place of a file name.
  static std::unique_ptr<FastaReader> FromStream(std::unique_ptr<std::istream> in,
                                                 std::string display_name,
                                                 const FastaOptions& options = {});
  ~FastaReader();

  // The next record, or nullopt after the last one. The first call fails on an empty file.
  absl::StatusOr<std::optional<FastaRecord>> Next();

 private:
  FastaReader(std::unique_ptr<std::istream> in, std::unique_ptr<FastaScanner> scanner);
  std::unique_ptr<std::istream> in_;
  std::unique_ptr<FastaScanner> scanner_;
};

// Random access to the records of a FASTA file through a .fai-style index, so that records can
// be processed in any order (predict uses sorted-name order, §1.3) without holding the file.
class IndexedFasta {
 public:
  struct Options {
    FastaOptions fasta;
    // Use `<fasta>.fai` when it exists (validated against the file; a stale or malformed index
    // is an error that says so). Otherwise the index is built by one streaming pass, which also
    // validates every record before any work starts.
    bool use_existing_fai = true;
  };

  static absl::StatusOr<IndexedFasta> Open(const std::filesystem::path& path,
                                           const Options& options);
  static absl::StatusOr<IndexedFasta> Open(const std::filesystem::path& path) {
    return Open(path, Options{});
  }

  IndexedFasta(IndexedFasta&&) noexcept;
  IndexedFasta& operator=(IndexedFasta&&) noexcept;
  ~IndexedFasta();

  const std::filesystem::path& path() const { return path_; }
  // Records in file order.
  const std::vector<FaiEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // Index of the record called `name`, or nullopt.
  std::optional<size_t> Find(const std::string& name) const;
  // True when the index came from an existing .fai file.
  bool used_fai_file() const { return used_fai_file_; }

  // The bases of record `i` (line breaks removed). Checks the bytes against the index: a stale
  // index (record moved, resized, or renamed) is reported, never silently misread.
  absl::StatusOr<std::string> ReadSequence(size_t i) const;

  // Writes a samtools-compatible .fai. Fails, naming the record and line, when a record's lines
  // are not all of equal length (samtools refuses those files too).
  absl::Status WriteFai(const std::filesystem::path& fai_path) const;

 private:
  IndexedFasta() = default;
  absl::Status ValidateHeaders();
  absl::StatusOr<std::string> ReadIrregular(size_t i) const;

  std::filesystem::path path_;
  FastaOptions options_;
  int fd_ = -1;
  int64_t file_bytes_ = 0;
  bool used_fai_file_ = false;
  std::vector<FaiEntry> entries_;
  std::vector<int64_t> header_offsets_;  // byte offset of each record's '>'
  std::vector<int64_t> header_lines_;    // 1-based, 0 when unknown (index read from .fai)
  std::vector<int64_t> irregular_line_;  // 0 = regular geometry, else first offending line
};

}  // namespace evo2
