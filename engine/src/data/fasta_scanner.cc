#include "data/fasta_scanner.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "evo2/status_macros.h"

namespace evo2 {
namespace {

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

// Validates UTF-8 (no overlongs, no surrogates) and the absence of control characters other
// than tab. Returns the offset of the first bad byte, or npos.
size_t FindBadHeaderByte(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) return i;
      ++i;
      continue;
    }
    int extra = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + extra >= s.size()) return i;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return i;
    }
    i += static_cast<size_t>(extra) + 1;
  }
  return std::string_view::npos;
}

}  // namespace

std::string QuoteRecordName(std::string_view name) {
  return absl::StrCat("record \"", std::string(name), "\"");
}

std::string DescribeByte(unsigned char c) {
  const char* what = nullptr;
  switch (c) {
    case 0x00: what = "NUL: binary data"; break;
    case ' ': what = "space"; break;
    case '\t': what = "tab"; break;
    case '\r': what = "carriage return not followed by a newline"; break;
    default:
      if (c < 0x20 || c == 0x7F) what = "control character: binary data?";
      else if (c >= 0x80) what = "not ASCII";
  }
  if (what == nullptr) return absl::StrFormat("byte 0x%02X ('%c')", c, c);
  return absl::StrFormat("byte 0x%02X (%s)", c, what);
}

FastaScanner::FastaScanner(std::istream& in, std::string display_name, const FastaOptions& options,
                           bool keep_sequence)
    : display_name_(display_name),
      options_(options),
      keep_sequence_(keep_sequence),
      lines_(in, std::move(display_name),
             std::max(options.max_header_bytes, options.max_line_bytes)) {
  for (unsigned char c : options.alphabet) {
    in_alphabet_[static_cast<unsigned char>(absl::ascii_toupper(c))] = true;
    in_alphabet_[static_cast<unsigned char>(absl::ascii_tolower(c))] = true;
  }
}

absl::Status FastaScanner::ReadHeader(const data::Line& line, ScannedRecord* record) {
  const std::string where = absl::StrCat(display_name_, ":", line.number, ": ");
  if (static_cast<int64_t>(line.text.size()) > options_.max_header_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(where, "header longer than the limit of ",
                                                   options_.max_header_bytes, " bytes"));
  }
  std::string_view body = line.text.substr(1);
  const size_t bad = FindBadHeaderByte(body);
  if (bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "header has ", DescribeByte(static_cast<unsigned char>(body[bad])),
        " at column ", bad + 2, " (headers must be UTF-8 text)"));
  }
  const size_t name_end = body.find_first_of(" \t");
  std::string_view name = body.substr(0, name_end);
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "header '>' has no record name right after the '>'"));
  }
  if (auto [it, inserted] = seen_names_.emplace(std::string(name), line.number); !inserted) {
    return absl::InvalidArgumentError(absl::StrCat(where, "duplicate ", QuoteRecordName(name),
                                                   " (first defined at line ", it->second,
                                                   "); record names must be unique"));
  }
  std::string_view description;
  if (name_end != std::string_view::npos) {
    description = body.substr(name_end);
    const size_t start = description.find_first_not_of(" \t");
    description = start == std::string_view::npos ? std::string_view() : description.substr(start);
  }
  record->fai.name = std::string(name);
  record->description = std::string(description);
  record->header_line = line.number;
  record->header_offset = line.offset;
  record->fai.offset = line.offset + static_cast<int64_t>(line.text.size()) + line.terminator_bytes;
  return absl::OkStatus();
}

absl::Status FastaScanner::AddSequenceLine(const data::Line& line, ScannedRecord* record,
                                           bool* last_line_short,
                                           int64_t* blank_after_sequence) {
  for (size_t i = 0; i < line.text.size(); ++i) {
    const auto c = static_cast<unsigned char>(line.text[i]);
    if (!IsSequenceByte(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          display_name_, ":", line.number, ": ", QuoteRecordName(record->fai.name), ": ",
          DescribeByte(c), " at column ", i + 1,
          " (sequence lines hold printable ASCII letters only)"));
    }
    if (!options_.alphabet.empty() && !in_alphabet_[c]) {
      return absl::InvalidArgumentError(absl::StrCat(
          display_name_, ":", line.number, ": ", QuoteRecordName(record->fai.name), ": ",
          DescribeByte(c), " at column ", i + 1, " is not in the alphabet ", options_.alphabet));
    }
  }
  const auto bases = static_cast<int64_t>(line.text.size());
  const int64_t width = bases + line.terminator_bytes;
  FaiEntry& fai = record->fai;
  if (fai.length == 0) {
    fai.offset = line.offset;
    fai.line_bases = bases;
    // A single line ending the file without a newline still gets samtools' width (+1).
    fai.line_width = line.terminator_bytes == 0 ? bases + 1 : width;
  } else if (record->irregular_line == 0) {
    // samtools' rule: every line but the last has the same length and terminator; the last may
    // be shorter (or lack its newline at the end of the file); no blank line in between.
    const int64_t terminator = fai.line_width - fai.line_bases;
    const bool same_terminator = line.terminator_bytes == 0 || line.terminator_bytes == terminator;
    const bool fits = bases <= fai.line_bases && same_terminator;
    if (*last_line_short || *blank_after_sequence != 0 || !fits) {
      record->irregular_line = *blank_after_sequence != 0 ? *blank_after_sequence : line.number;
    }
  }
  *last_line_short = bases < fai.line_bases;
  *blank_after_sequence = 0;
  fai.length += bases;
  if (keep_sequence_) record->sequence.append(line.text);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ScannedRecord>> FastaScanner::Next() {
  if (done_) return std::nullopt;
  data::Line line;
  // Find the header of this record.
  if (!pending_header_) {
    while (true) {
      ASSIGN_OR_RETURN(auto more, lines_.Next(&line));
      if (!more) {
        done_ = true;
        if (records_ == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(display_name_, ": empty FASTA file (no '>' records)"));
        }
        return std::nullopt;
      }
      if (IsBlank(line.text)) continue;
      if (line.text[0] == '>') break;
      if (line.number == 1 && line.text.size() >= 2 &&
          static_cast<unsigned char>(line.text[0]) == 0x1F &&
          static_cast<unsigned char>(line.text[1]) == 0x8B) {
        return absl::InvalidArgumentError(absl::StrCat(
            display_name_, ": gzip-compressed file; decompress it first (gunzip)"));
      }
      for (char c : line.text) {
        if (!IsSequenceByte(static_cast<unsigned char>(c)) && c != ' ' && c != '\t') {
          return absl::InvalidArgumentError(
              absl::StrCat(display_name_, ":", line.number, ": not a FASTA text file (",
                           DescribeByte(static_cast<unsigned char>(c)), ")"));
        }
      }
      return absl::InvalidArgumentError(
          absl::StrCat(display_name_, ":", line.number,
                       ": sequence data before the first '>' header (not a FASTA file?)"));
    }
  } else {
    line = *pending_header_;
    line.text = pending_header_text_;
    pending_header_.reset();
  }

  ScannedRecord record;
  RETURN_IF_ERROR(ReadHeader(line, &record));
  ++records_;
  bool last_line_short = false;
  int64_t blank_after_sequence = 0;
  while (true) {
    // Sequence lines may be long; the header limit applies only when the line is a header,
    // which is checked in ReadHeader.
    auto more = lines_.Next(&line);
    if (!more.ok()) {
      return absl::Status(more.status().code(),
                          absl::StrCat(more.status().message(), " in ",
                                       QuoteRecordName(record.fai.name)));
    }
    if (!*more) {
      done_ = true;
      break;
    }
    if (!line.text.empty() && line.text[0] == '>') {
      pending_header_text_ = std::string(line.text);
      pending_header_ = line;
      break;
    }
    if (line.text.empty()) {
      if (record.fai.length > 0 && blank_after_sequence == 0) blank_after_sequence = line.number;
      continue;
    }
    RETURN_IF_ERROR(AddSequenceLine(line, &record, &last_line_short, &blank_after_sequence));
  }
  if (record.fai.length == 0) {
    return absl::InvalidArgumentError(absl::StrCat(display_name_, ":", record.header_line, ": ",
                                                   QuoteRecordName(record.fai.name),
                                                   " has no sequence"));
  }
  return record;
}

}  // namespace evo2
