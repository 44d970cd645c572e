#include "model/decoder_util.h"

#include "evo2/status_macros.h"

namespace evo2 {

absl::Status CheckStepTokens(std::span<const int32_t> tokens, int64_t batch, int64_t V,
                             const std::atomic<bool>* cancelled) {
  if (batch == 0) return absl::FailedPreconditionError("Step: no sequences (call Prefill first)");
  if (static_cast<int64_t>(tokens.size()) != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("Step: ", tokens.size(), " tokens for a batch of ", batch, " sequences"));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= V) {
      return absl::InvalidArgumentError(
          absl::StrCat("Step: token ", tokens[i], " of sequence ", i, " is outside [0, ", V, ")"));
    }
  }
  if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
    return absl::CancelledError("cancelled before a decode step");
  }
  return absl::OkStatus();
}

absl::Status PromptError(size_t i, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("Prefill: prompt ", i, ": ", status.message()));
}

absl::Status ForwardLastLogits(Model& model, std::span<const int32_t> prompt,
                               const std::atomic<bool>* cancelled, int64_t V, std::vector<float>& logits) {
  ForwardOptions fo;
  fo.log_probs = false;
  fo.logits = true;
  fo.cancelled = cancelled;
  ASSIGN_OR_RETURN(ForwardResult r, model.Forward(prompt, fo));
  const int64_t S = static_cast<int64_t>(prompt.size());
  logits.insert(logits.end(), r.logits.begin() + (S - 1) * V, r.logits.begin() + S * V);
  return absl::OkStatus();
}

}  // namespace evo2
