// The longest single record a loaded model can run within a memory budget.
//
// A serving fleet advertises this so that a record too long for the memory its workers have is
// refused when it is submitted rather than failing on the worker (docs/service.md, "Limits").
// It reuses the backend's own working-memory plan (Model::ForwardWorkingBytes: the estimate the
// backend's Forward checks before allocating), so there is one memory model, not two.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2 {

// The largest S in [1, max_tokens] with model.ForwardWorkingBytes(S, options) <= budget_bytes
// (a binary search: the plan is non-decreasing in S). UNIMPLEMENTED when the backend has no
// plan; RESOURCE_EXHAUSTED naming the budget when not even a 2-token record (BOS + one base)
// fits; INVALID_ARGUMENT for a budget or max_tokens below 1.
absl::StatusOr<int64_t> MaxRecordTokens(const Model& model, const ForwardOptions& options,
                                        int64_t budget_bytes,
                                        int64_t max_tokens = int64_t{1} << 30);

// The budget MaxRecordTokens uses when the operator names none: the memory the backend says a
// forward may still use now (Model::FreeWorkingMemoryBytes); UNAVAILABLE when it cannot tell.
absl::StatusOr<int64_t> DefaultWorkingMemoryBudgetBytes(const Model& model);

}  // namespace evo2
