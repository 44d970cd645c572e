#include "data/line_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evo2::data {
namespace {
constexpr size_t kChunkBytes = size_t{1} << 20;
}  // namespace

LineReader::LineReader(std::istream& in, std::string display_name, int64_t max_line_bytes)
    : in_(in), display_name_(std::move(display_name)), max_line_bytes_(max_line_bytes) {}

bool LineReader::Fill() {
  if (eof_) return false;
  // Compact: drop consumed bytes so the buffer only grows with the current line.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    buf_offset_ += static_cast<int64_t>(begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() < end_ + kChunkBytes) buf_.resize(end_ + kChunkBytes);
  in_.read(buf_.data() + end_, static_cast<std::streamsize>(kChunkBytes));
  const auto got = static_cast<size_t>(in_.gcount());
  end_ += got;
  if (got == 0) eof_ = true;
  return got > 0;
}

absl::StatusOr<bool> LineReader::Next(Line* line, int64_t max_bytes) {
  const int64_t limit = max_bytes >= 0 ? max_bytes : max_line_bytes_;
  size_t scanned = begin_;
  while (true) {
    const char* nl = static_cast<const char*>(
        std::memchr(buf_.data() + scanned, '\n', end_ - scanned));
    if (nl != nullptr) {
      const size_t pos = static_cast<size_t>(nl - buf_.data());
      size_t len = pos - begin_;
      int term = 1;
      if (len > 0 && buf_[pos - 1] == '\r') {
        --len;
        term = 2;
      }
      if (static_cast<int64_t>(len) > limit) break;
      line->text = std::string_view(buf_.data() + begin_, len);
      line->offset = buf_offset_ + static_cast<int64_t>(begin_);
      line->number = ++line_number_;
      line->terminator_bytes = term;
      begin_ = pos + 1;
      return true;
    }
    scanned = end_;
    if (static_cast<int64_t>(end_ - begin_) > limit + 1) break;
    const size_t consumed_before = begin_;
    if (!Fill()) {
      if (end_ == begin_) return false;
      size_t len = end_ - begin_;
      if (static_cast<int64_t>(len) > limit) break;
      line->text = std::string_view(buf_.data() + begin_, len);
      line->offset = buf_offset_ + static_cast<int64_t>(begin_);
      line->number = ++line_number_;
      line->terminator_bytes = 0;
      begin_ = end_;
      return true;
    }
    scanned -= consumed_before;  // Fill() moved the unconsumed bytes to the front
  }
  return absl::InvalidArgumentError(
      absl::StrCat(display_name_, ":", line_number_ + 1, ": line longer than the limit of ",
                   limit, " bytes (not a FASTA file, or an unwrapped sequence over the limit)"));
}

}  // namespace evo2::data
