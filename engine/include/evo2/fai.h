// samtools-compatible FASTA index (`.fai`): one line per record,
//   NAME <TAB> LENGTH <TAB> OFFSET <TAB> LINEBASES <TAB> LINEWIDTH
// OFFSET is the byte offset of the record's first base; every sequence line but the last holds
// LINEBASES bases and LINEWIDTH bytes including its terminator ("\n" or "\r\n").
// Spec: docs/spec/predict-cli.md §2.2 (the reference builds the same index with noodles/NvFaidx).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2 {

struct FaiEntry {
  std::string name;
  int64_t length = 0;      // bases
  int64_t offset = 0;      // byte offset of the first base
  int64_t line_bases = 0;  // bases per full line
  int64_t line_width = 0;  // bytes per full line, terminator included
};

// `<fasta>.fai`, the name samtools uses.
std::filesystem::path DefaultFaiPath(const std::filesystem::path& fasta);

// Parses a .fai file; errors name the file and line (bad field count, non-numeric or negative
// fields, LINEWIDTH not LINEBASES+1 or +2, duplicate names, offsets not increasing).
absl::StatusOr<std::vector<FaiEntry>> ReadFai(const std::filesystem::path& path);

// Writes entries in samtools' format, atomically (temporary file + rename).
absl::Status WriteFai(const std::filesystem::path& path, std::span<const FaiEntry> entries);

}  // namespace evo2
