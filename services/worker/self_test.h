// The worker's start-up self-test: one short record through the loaded engine, end to end, before
// the worker reports ready (docs/service.md, "Health"). It catches a checkpoint that loads but
// computes garbage, a device that cannot run a forward, or a missing kernel image.
#pragma once

#include "absl/status/status.h"
#include "record_scorer.h"

namespace evo2::svc {

// Scores a fixed 64-base record (per-token log-probs and their sum) and checks the result: one
// finite log-probability <= 0 per scored position, summing to the reported sum. FAILED_PRECONDITION
// naming what was wrong otherwise.
absl::Status RunSelfTest(RecordScorer& scorer);

}  // namespace evo2::svc
