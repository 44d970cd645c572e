#include "self_test.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::svc {

absl::Status RunSelfTest(RecordScorer& scorer) {
  evo2::v1::JobInput input;
  auto* rec = input.add_records();
  rec->set_name("self-test");
  // A fixed mixed sequence; its content does not matter, only that every position is scored.
  rec->set_sequence("ATGGCGTACGTTAGCCTAGGCTTACGATCGATCGGCTAAGCTTGCAATGCCGTAGCTAGCTAGG");
  input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
  input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
  std::atomic<bool> cancelled{false};
  auto result = scorer.Score(input, 0, &cancelled);
  if (!result.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("self-test: scoring a 64-base record failed: ", result.status().ToString()));
  }
  const evo2::v1::Tensor* per_token = nullptr;
  for (const auto& t : result->tensors()) {
    if (t.name() == "log_probs") per_token = &t;
  }
  const int64_t positions =
      per_token == nullptr || per_token->shape_size() != 1 ? 0 : per_token->shape(0);
  if (per_token == nullptr || positions <= 0 ||
      per_token->data().size() != static_cast<size_t>(positions) * sizeof(float)) {
    return absl::FailedPreconditionError(
        absl::StrCat("self-test: no per-token log-probs in the result"));
  }
  std::vector<float> lp(static_cast<size_t>(positions));
  std::memcpy(lp.data(), per_token->data().data(), per_token->data().size());
  double sum = 0;
  for (size_t i = 0; i < lp.size(); ++i) {
    if (!std::isfinite(lp[i]) || lp[i] > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("self-test: log-prob at position ", i, " is ", lp[i],
                       " (a log-probability must be finite and <= 0)"));
    }
    sum += lp[i];
  }
  // The reported sum is accumulated from the same floats; 1e-3 relative covers float vs double
  // accumulation order over 63 terms.
  if (!std::isfinite(result->log_prob_sum()) ||
      std::abs(result->log_prob_sum() - sum) > 1e-3 * std::max(1.0, std::abs(sum))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "self-test: log-prob sum ", result->log_prob_sum(), " != sum of per-token ", sum));
  }
  return absl::OkStatus();
}

}  // namespace evo2::svc
