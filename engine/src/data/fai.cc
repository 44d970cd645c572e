#include "evo2/fai.h"

#include <charconv>
#include <fstream>
#include <set>
#include <system_error>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace evo2 {
namespace {

bool ParseNonNegative(std::string_view text, int64_t* value) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && ptr == text.data() + text.size() && *value >= 0;
}

}  // namespace

std::filesystem::path DefaultFaiPath(const std::filesystem::path& fasta) {
  return std::filesystem::path(fasta.string() + ".fai");
}

absl::StatusOr<std::vector<FaiEntry>> ReadFai(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open FASTA index ", path.string()));
  std::vector<FaiEntry> entries;
  std::set<std::string> names;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path.string(), ":", number, ": ");
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    // samtools writes 5 columns for FASTA (6 for FASTQ, which is not FASTA).
    if (fields.size() != 5) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "expected 5 tab-separated fields (NAME LENGTH OFFSET LINEBASES LINEWIDTH), got ",
          fields.size()));
    }
    FaiEntry e;
    e.name = std::string(fields[0]);
    if (e.name.empty()) return absl::InvalidArgumentError(absl::StrCat(where, "empty name"));
    const char* labels[] = {"LENGTH", "OFFSET", "LINEBASES", "LINEWIDTH"};
    int64_t* targets[] = {&e.length, &e.offset, &e.line_bases, &e.line_width};
    for (int k = 0; k < 4; ++k) {
      if (!ParseNonNegative(fields[k + 1], targets[k])) {
        return absl::InvalidArgumentError(absl::StrCat(where, labels[k], " '",
                                                       std::string(fields[k + 1]),
                                                       "' is not a non-negative integer"));
      }
    }
    if (e.line_bases <= 0 || (e.line_width != e.line_bases + 1 &&
                              e.line_width != e.line_bases + 2)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "LINEWIDTH ", e.line_width, " must be LINEBASES ", e.line_bases, " + 1 or + 2"));
    }
    if (!names.insert(e.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "duplicate record name \"", e.name, "\""));
    }
    if (!entries.empty() && e.offset <= entries.back().offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "OFFSET ", e.offset, " is not after the previous record's"));
    }
    entries.push_back(std::move(e));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  if (entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": empty FASTA index"));
  }
  return entries;
}

absl::Status WriteFai(const std::filesystem::path& path, std::span<const FaiEntry> entries) {
  const std::filesystem::path tmp =
      path.string() + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp.string()));
    for (const FaiEntry& e : entries) {
      out << e.name << '\t' << e.length << '\t' << e.offset << '\t' << e.line_bases << '\t'
          << e.line_width << '\n';
    }
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return absl::DataLossError(absl::StrCat("error writing ", tmp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace evo2
