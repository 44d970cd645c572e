#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "evo2/sampling.h"

namespace evo2 {

absl::Status ValidateSamplingOptions(const SamplingOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0 (0 = greedy); got ", o.temperature));
  }
  if (o.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top-k must be >= 0 (0 = no limit); got ", o.top_k));
  }
  if (!(o.top_p > 0 && o.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("top-p must be in (0, 1] (1 = no limit); got ", o.top_p));
  }
  if (o.alphabet.empty()) {
    return absl::InvalidArgumentError("the sampling alphabet is empty");
  }
  for (size_t i = 0; i < o.alphabet.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(o.alphabet[i]);
    // Letters and the few symbols a FASTA sequence line may hold; never '>' or ';' (a header
    // or comment at the start of a line) nor whitespace or control bytes.
    if (c <= 32 || c >= 127 || c == '>' || c == ';') {
      return absl::InvalidArgumentError(absl::StrCat(
          "the sampling alphabet may hold only printable ASCII letters that can appear in a FASTA "
          "sequence; character ",
          i + 1, " is byte ", int{c}));
    }
    if (o.alphabet.find(o.alphabet[i]) != i) {
      return absl::InvalidArgumentError(
          absl::StrCat("the sampling alphabet repeats '", std::string(1, o.alphabet[i]), "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2
