// The model and precision names written into annotated VCFs, and the reference check a service
// runs at start (evo2/variant_scoring.h).
#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "evo2/variant_scoring.h"
#include "variants/reference_genome.h"

namespace evo2 {

std::string VariantModelName(const Model& model, const std::filesystem::path& checkpoint) {
  // VCF 4.2 §1.6.1: INFO values hold no whitespace, ';', '=' or ',' (the list separator).
  std::string name = absl::StrCat(model.config().name, "/", checkpoint.filename().string());
  for (char& c : name) {
    if (c == ' ' || c == '\t' || c == ';' || c == '=' || c == ',') c = '_';
  }
  return name;
}

std::string VariantPrecisionName(const Model& model) {
  // backend_name() is "cpu-fp32", "cuda-bf16", ...: the precision is the part after the dash.
  const std::string backend = model.backend_name();
  return backend.substr(backend.find('-') + 1);
}

absl::Status CheckVariantReference(const std::filesystem::path& reference) {
  return variants::ReferenceGenome::Open(reference).status();
}

}  // namespace evo2
