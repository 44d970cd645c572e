// Buffered line splitter over an std::istream that reports byte offsets and terminators and
// refuses lines over a limit before buffering them whole (a binary or unwrapped multi-GB file
// must give an error, not exhaust memory).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace evo2::data {

struct Line {
  std::string_view text;     // without terminator; valid until the next call
  int64_t offset = 0;        // byte offset of the first byte
  int64_t number = 0;        // 1-based
  int terminator_bytes = 0;  // 1 ("\n"), 2 ("\r\n"), 0 (last line without newline)
};

class LineReader {
 public:
  LineReader(std::istream& in, std::string display_name, int64_t max_line_bytes);

  // false at end of input. `max_bytes` (if >= 0) overrides the limit for this line only.
  absl::StatusOr<bool> Next(Line* line, int64_t max_bytes = -1);

 private:
  bool Fill();  // appends more input to buf_; false at EOF

  std::istream& in_;
  std::string display_name_;
  int64_t max_line_bytes_;
  std::string buf_;
  size_t begin_ = 0;      // start of unconsumed data in buf_
  size_t end_ = 0;        // end of valid data in buf_
  int64_t buf_offset_ = 0;  // file offset of buf_[0]
  int64_t line_number_ = 0;
  bool eof_ = false;
};

}  // namespace evo2::data
