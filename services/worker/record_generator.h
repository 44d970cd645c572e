// One record of a generate job (proto/evo2/v1/inputs.proto GenerationOptions) through the
// engine: the prompt's num_samples continuations by evo2::Generate (evo2/generate.h), decoded
// together. Drawn bases go to `publish` while generation runs, a few at a time (every
// kPublishInterval, and at the end), so a WatchJob client sees them as they are produced.
#pragma once

#include <atomic>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "evo2/model.h"
#include "evo2/v1/inputs.pb.h"
#include "evo2/v1/jobs.pb.h"
#include "evo2/v1/results.pb.h"

namespace evo2::svc {

inline constexpr absl::Duration kPublishInterval = absl::Milliseconds(100);

// Called with the bases of one sample drawn since its previous call. A non-OK status stops the
// generation with it.
using TokenPublisher = std::function<absl::Status(const evo2::v1::GeneratedTokens&)>;

// `job.generation` must be set (and normalised by the API). The record's index selects its
// random streams, so the result equals `evo2 generate` over the whole input with the same seed.
absl::StatusOr<evo2::v1::RecordResult> GenerateRecord(evo2::Model& model,
                                                      const evo2::v1::JobInput& job, int64_t index,
                                                      const std::atomic<bool>* cancelled,
                                                      const TokenPublisher& publish);

}  // namespace evo2::svc
