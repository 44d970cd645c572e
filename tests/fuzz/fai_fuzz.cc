// A `.fai` index beside a FASTA file: both come from outside, and a stale or hostile index must
// be refused, never followed out of the file. Input: FASTA bytes, a NUL, then the .fai text.
#include <cstring>

#include "evo2/fai.h"
#include "evo2/fasta.h"
#include "fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = evo2::fuzz::AsText(data, size);
  const size_t split = input.find('\0');
  const std::string_view fasta_text = split == std::string_view::npos ? "" : input.substr(0, split);
  const std::string_view fai_text =
      split == std::string_view::npos ? input : input.substr(split + 1);

  const auto fasta = evo2::fuzz::WriteFile("in.fa", fasta_text);
  const auto fai = evo2::fuzz::WriteFile("in.fa.fai", fai_text);
  (void)evo2::ReadFai(fai).ok();

  evo2::IndexedFasta::Options options;
  options.fasta.max_header_bytes = 64;
  options.fasta.max_line_bytes = 256;
  auto indexed = evo2::IndexedFasta::Open(fasta, options);
  if (!indexed.ok()) return 0;
  evo2::fuzz::ReadEveryRecord(*indexed);
  return 0;
}
