// Refuses enum values a message's schema does not define. proto3 enums are open: a value the
// receiver does not know (99 for a LogProbReduction) parses fine and would be silently ignored,
// stored or treated as a default. The check walks the message by its descriptors, so a value
// added to an enum in the .proto is accepted with no change here.
#pragma once

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace evo2::svc {

// INVALID_ARGUMENT with a BadRequest violation for the first unknown value, e.g.
// "outputs.log_probs[0]: 99 is not a LogProbReduction (valid: LOG_PROB_REDUCTION_UNSPECIFIED=0,
// ...)". Nested messages (singular, repeated, map values) are checked too.
absl::Status CheckEnumFields(const google::protobuf::Message& message);

}  // namespace evo2::svc
