// Idempotency keys the client makes up when the user gives none, so that a retried SubmitJob
// can never create a second job (docs/service.md "Guarantees").
#pragma once

#include <string>

namespace evo2::client {

// "evo2-" + 128 random bits as hex: unique per submit, printable ASCII, well under the API's
// 128-byte limit.
std::string NewIdempotencyKey();

}  // namespace evo2::client
