// FASTA text from outside (a user's file, or the `fasta` bytes of a SubmitJob request): the
// streaming reader over memory, and the indexed reader over the same bytes as a file (index
// built by one pass, then every record read back through it).
#include <memory>
#include <sstream>

#include "evo2/fasta.h"
#include "fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = evo2::fuzz::AsText(data, size);
  evo2::FastaOptions options;
  // Small limits so that the fuzzer reaches the over-limit paths with small inputs.
  options.max_header_bytes = 64;
  options.max_line_bytes = 256;
  if (size > 0 && data[0] == '>' && size % 2 == 0) options.alphabet = "ACGTN";

  auto reader = evo2::FastaReader::FromStream(
      std::make_unique<std::istringstream>(std::string(text)), "fuzz.fa", options);
  for (int records = 0; records < 1000; ++records) {
    auto next = reader->Next();
    if (!next.ok() || !next->has_value()) break;
  }

  const auto fasta = evo2::fuzz::WriteFile("in.fa", text);
  std::filesystem::remove(evo2::DefaultFaiPath(fasta));
  evo2::IndexedFasta::Options indexed_options;
  indexed_options.fasta = options;
  indexed_options.use_existing_fai = false;
  auto indexed = evo2::IndexedFasta::Open(fasta, indexed_options);
  if (!indexed.ok()) return 0;
  evo2::fuzz::ReadEveryRecord(*indexed);
  return 0;
}
