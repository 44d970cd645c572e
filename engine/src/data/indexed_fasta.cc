// IndexedFasta: records by index via pread, the index built by one streaming pass or read from
// an existing samtools .fai and validated against the file (docs/spec/predict-cli.md §2.2).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "data/fasta_scanner.h"
#include "evo2/fasta.h"
#include "evo2/status_macros.h"

namespace evo2 {
namespace {

absl::Status PreadExact(int fd, const std::string& path, int64_t offset, char* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat("error reading ", path, ": ", std::strerror(errno)));
    }
    if (got == 0) {
      return absl::DataLossError(absl::StrCat(path, ": unexpected end of file at byte ",
                                              offset + static_cast<int64_t>(done)));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace

IndexedFasta::IndexedFasta(IndexedFasta&& other) noexcept { *this = std::move(other); }

IndexedFasta& IndexedFasta::operator=(IndexedFasta&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    options_ = other.options_;
    fd_ = other.fd_;
    other.fd_ = -1;
    file_bytes_ = other.file_bytes_;
    used_fai_file_ = other.used_fai_file_;
    entries_ = std::move(other.entries_);
    header_offsets_ = std::move(other.header_offsets_);
    header_lines_ = std::move(other.header_lines_);
    irregular_line_ = std::move(other.irregular_line_);
  }
  return *this;
}

IndexedFasta::~IndexedFasta() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<IndexedFasta> IndexedFasta::Open(const std::filesystem::path& path,
                                                const Options& options) {
  IndexedFasta fasta;
  fasta.path_ = path;
  fasta.options_ = options.fasta;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open FASTA file ", path.string(), ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " is not a regular file"));
  }
  fasta.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fasta.fd_ < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open FASTA file ", path.string(), ": ", std::strerror(errno)));
  }
  fasta.file_bytes_ = static_cast<int64_t>(st.st_size);

  const std::filesystem::path fai = DefaultFaiPath(path);
  std::error_code ec;
  if (options.use_existing_fai && std::filesystem::exists(fai, ec)) {
    ASSIGN_OR_RETURN(auto entries, ReadFai(fai));
    fasta.entries_ = std::move(entries);
    fasta.used_fai_file_ = true;
    fasta.header_lines_.assign(fasta.entries_.size(), 0);
    fasta.irregular_line_.assign(fasta.entries_.size(), 0);
    RETURN_IF_ERROR(fasta.ValidateHeaders());
    return fasta;
  }

  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open FASTA file ", path.string()));
  FastaScanner scanner(in, path.string(), options.fasta, /*keep_sequence=*/false);
  while (true) {
    ASSIGN_OR_RETURN(auto record, scanner.Next());
    if (!record.has_value()) break;
    ScannedRecord& r = *record;
    fasta.header_offsets_.push_back(r.header_offset);
    fasta.header_lines_.push_back(r.header_line);
    fasta.irregular_line_.push_back(r.irregular_line);
    fasta.entries_.push_back(std::move(r.fai));
  }
  return fasta;
}

// For an index read from a .fai: each entry's offset must sit right after a '>' header line whose
// name matches; the file must not hold data before the first indexed record.
absl::Status IndexedFasta::ValidateHeaders() {
  const std::string fai = DefaultFaiPath(path_).string();
  auto stale = [&](size_t i, const std::string& why) {
    return absl::FailedPreconditionError(absl::StrCat(
        fai, " does not match ", path_.string(), ": ", QuoteRecordName(entries_[i].name), " ",
        why, " (stale index? delete it or rebuild it with `samtools faidx` or --write-fai)"));
  };
  header_offsets_.resize(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    const FaiEntry& e = entries_[i];
    if (e.length <= 0) return stale(i, "has length 0");
    if (e.offset < 3 || e.offset > file_bytes_) {
      return stale(i, absl::StrCat("has offset ", e.offset, " outside the file (",
                                   file_bytes_, " bytes)"));
    }
    const int64_t window = std::min<int64_t>(e.offset, options_.max_header_bytes + 2);
    std::string bytes(static_cast<size_t>(window), '\0');
    RETURN_IF_ERROR(PreadExact(fd_, path_.string(), e.offset - window, bytes.data(), bytes.size()));
    if (bytes.back() != '\n') return stale(i, "does not start at the beginning of a line");
    const size_t prev_nl = bytes.find_last_of('\n', bytes.size() - 2);
    size_t start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
    if (prev_nl == std::string::npos && window != e.offset) {
      return stale(i, "is not preceded by a header line");
    }
    std::string_view header(bytes.data() + start, bytes.size() - 1 - start);
    if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
    if (header.empty() || header[0] != '>') return stale(i, "is not preceded by its '>' header");
    std::string_view name = header.substr(1, header.find_first_of(" \t") - 1);
    if (name != e.name) {
      return stale(i, absl::StrCat("is preceded by the header of \"", std::string(name), "\""));
    }
    header_offsets_[i] = e.offset - window + static_cast<int64_t>(start);
    if (i > 0 && header_offsets_[i] <= entries_[i - 1].offset) {
      return stale(i, "overlaps the previous record");
    }
  }
  // Nothing but blank lines may precede the first record.
  if (header_offsets_[0] > 0) {
    if (header_offsets_[0] > (int64_t{1} << 20)) return stale(0, "is not the first record");
    std::string bytes(static_cast<size_t>(header_offsets_[0]), '\0');
    RETURN_IF_ERROR(PreadExact(fd_, path_.string(), 0, bytes.data(), bytes.size()));
    if (bytes.find_first_not_of(" \t\r\n") != std::string::npos) {
      return stale(0, "is not the first record");
    }
  }
  return absl::OkStatus();
}

std::optional<size_t> IndexedFasta::Find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name == name) return i;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> IndexedFasta::ReadSequence(size_t i) const {
  if (i >= entries_.size()) {
    return absl::OutOfRangeError(absl::StrCat("record index ", i, " out of range (",
                                              entries_.size(), " records)"));
  }
  const FaiEntry& e = entries_[i];
  const int64_t end = i + 1 < entries_.size() ? header_offsets_[i + 1] : file_bytes_;
  auto mismatch = [&](const std::string& why) {
    const std::string source =
        used_fai_file_ ? absl::StrCat("the index ", DefaultFaiPath(path_).string(),
                                      " (stale index? delete it or rebuild it with --write-fai)")
                       : std::string("the index built when the file was opened (file changed?)");
    return absl::FailedPreconditionError(absl::StrCat(path_.string(), ": ",
                                                      QuoteRecordName(e.name), " ", why,
                                                      " does not match ", source));
  };
  if (end < e.offset) return mismatch("extends before its start");
  // Raw bytes of the record's sequence lines; compacted in place into the bases.
  std::string seq(static_cast<size_t>(end - e.offset), '\0');
  RETURN_IF_ERROR(PreadExact(fd_, path_.string(), e.offset, seq.data(), seq.size()));
  size_t out = 0;
  size_t pos = 0;
  bool first_line = true;
  int64_t line_in_record = 0;
  while (pos < seq.size()) {
    size_t nl = seq.find('\n', pos);
    const bool has_nl = nl != std::string::npos;
    if (!has_nl) nl = seq.size();
    size_t len = nl - pos;
    int term = has_nl ? 1 : 0;
    if (len > 0 && seq[pos + len - 1] == '\r' && has_nl) {
      --len;
      term = 2;
    }
    ++line_in_record;
    if (len > 0) {
      if (seq[pos] == '>') return mismatch("is followed by an unindexed record");
      for (size_t k = 0; k < len; ++k) {
        const auto c = static_cast<unsigned char>(seq[pos + k]);
        if (!IsSequenceByte(c)) {
          return absl::InvalidArgumentError(absl::StrCat(
              path_.string(), ": ", QuoteRecordName(e.name), ": ", DescribeByte(c),
              " on sequence line ", line_in_record, " (sequence lines hold printable ASCII only)"));
        }
      }
      if (first_line && used_fai_file_) {
        const int64_t expect = std::min(e.line_bases, e.length);
        if (static_cast<int64_t>(len) != expect ||
            (term != 0 && len + term != static_cast<size_t>(e.line_width) &&
             e.length > e.line_bases)) {
          return mismatch(absl::StrCat("has a first line of ", len, " bases"));
        }
      }
      first_line = false;
      std::memmove(seq.data() + out, seq.data() + pos, len);
      out += len;
    }
    pos = nl + 1;
  }
  seq.resize(out);
  if (static_cast<int64_t>(out) != e.length) {
    return mismatch(absl::StrCat("has ", out, " bases but the index says ", e.length));
  }
  return seq;
}

absl::Status IndexedFasta::WriteFai(const std::filesystem::path& fai_path) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (irregular_line_[i] != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          path_.string(), ":", irregular_line_[i], ": ", QuoteRecordName(entries_[i].name),
          " has lines of different lengths (or a blank line inside its sequence); a samtools "
          ".fai needs equal-length lines. Re-wrap the file (e.g. `seqkit seq -w 80`)"));
    }
  }
  return ::evo2::WriteFai(fai_path, entries_);
}

}  // namespace evo2
