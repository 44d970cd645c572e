// The TSV form of the results: one row per ALT allele (docs/variant-scoring.md §4), scores in
// full double precision (%.17g) so that they can be compared exactly; written atomically.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/atomic_file.h"
#include "variants/vcf_io.h"

namespace evo2::variants {

struct TsvRecord {
  std::string chrom;
  int64_t pos = 0;  // 1-based VCF POS
  std::string id, ref;
  std::vector<std::string> alts;
};

class VariantTsvWriter {
 public:
  static absl::StatusOr<std::unique_ptr<VariantTsvWriter>> Open(const std::filesystem::path& path);
  absl::Status Write(const TsvRecord& record, const RecordAnnotation& annotation);
  absl::Status Finish();

 private:
  explicit VariantTsvWriter(io::AtomicFileWriter file) : file_(std::move(file)) {}
  io::AtomicFileWriter file_;
};

}  // namespace evo2::variants
