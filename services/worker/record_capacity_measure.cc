#include "record_capacity_measure.h"

#include "evo2/record_capacity.h"
#include "evo2/status_macros.h"

namespace evo2::svc {

absl::StatusOr<RecordCapacity> MeasureRecordCapacity(const evo2::Model& model,
                                                     const std::string& worker_id,
                                                     int64_t budget_bytes) {
  if (budget_bytes == 0) {
    ASSIGN_OR_RETURN(budget_bytes, evo2::DefaultWorkingMemoryBudgetBytes(model));
  }
  RecordCapacity c;
  c.worker_id = worker_id;
  // What RecordScorer asks of the engine: log-probs always, logits when the job wants them.
  evo2::ForwardOptions log_probs;
  ASSIGN_OR_RETURN(c.log_probs_tokens, evo2::MaxRecordTokens(model, log_probs, budget_bytes));
  evo2::ForwardOptions logits;
  logits.logits = true;
  ASSIGN_OR_RETURN(c.logits_tokens, evo2::MaxRecordTokens(model, logits, budget_bytes));
  return c;
}

}  // namespace evo2::svc
