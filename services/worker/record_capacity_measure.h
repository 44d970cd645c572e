// What this worker advertises as the longest record it can hold (record_capacity_registry.h):
// the engine's answer (evo2/record_capacity.h) for log-probs only and for full logits, within
// the operator's budget or, without one, the memory free once the model is loaded.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "record_capacity_registry.h"

namespace evo2::svc {

// budget_bytes 0 = the engine's free working memory now (call it after load and self-test).
// UNIMPLEMENTED when the backend has no memory plan (the worker then advertises nothing).
absl::StatusOr<RecordCapacity> MeasureRecordCapacity(const evo2::Model& model,
                                                     const std::string& worker_id,
                                                     int64_t budget_bytes);

}  // namespace evo2::svc
