// The FASTA grammar in one place: turns lines into records with their samtools line geometry.
// Shared by the streaming FastaReader (keeps sequences) and the index builder (keeps only the
// geometry), so both accept and reject exactly the same files.
#pragma once

#include <array>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/line_reader.h"
#include "evo2/fai.h"
#include "evo2/fasta.h"

namespace evo2 {

struct ScannedRecord {
  std::string description;
  int64_t header_line = 0;    // 1-based
  int64_t header_offset = 0;  // byte offset of '>'
  FaiEntry fai;               // name, length, geometry
  int64_t irregular_line = 0;  // 0 when samtools-compatible, else the first line that breaks it
  std::string sequence;       // only when the scanner keeps sequences
};

class FastaScanner {
 public:
  FastaScanner(std::istream& in, std::string display_name, const FastaOptions& options,
               bool keep_sequence);

  absl::StatusOr<std::optional<ScannedRecord>> Next();

 private:
  absl::Status ReadHeader(const data::Line& line, ScannedRecord* record);
  absl::Status AddSequenceLine(const data::Line& line, ScannedRecord* record,
                               bool* last_line_short, int64_t* blank_after_sequence);

  std::string display_name_;
  FastaOptions options_;
  std::array<bool, 256> in_alphabet_{};  // from options_.alphabet, both cases
  bool keep_sequence_;
  data::LineReader lines_;
  std::optional<data::Line> pending_header_;  // header line of the next record
  std::string pending_header_text_;           // its text (Line::text is not owned)
  std::map<std::string, int64_t> seen_names_;  // name -> header line, for duplicates
  int64_t records_ = 0;
  bool done_ = false;
};

// "record \"name\"" quoted for error messages.
std::string QuoteRecordName(std::string_view name);
// Describes an offending byte: "byte 0x09 (tab)".
std::string DescribeByte(unsigned char c);
// True for bytes allowed in sequence lines: printable ASCII except space.
inline bool IsSequenceByte(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

}  // namespace evo2
