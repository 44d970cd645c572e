// Machine-readable error details (google.rpc.BadRequest, ErrorInfo, QuotaFailure, RetryInfo,
// PreconditionFailure) carried as absl::Status payloads under their type URLs. Code that knows
// nothing of gRPC (request validation, JobStore) says which field, limit or quota failed; the API
// copies every payload into the gRPC status trailer (services/api/status_details.h), so a client
// can tell "too big, never retry" from "tenant quota, retry later" without reading the text.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace evo2::svc {

// ErrorInfo.domain of every reason this service sends.
inline constexpr char kErrorDomain[] = "evo2-serve";

// "type.googleapis.com/google.rpc.BadRequest" for a google.rpc.BadRequest, etc.
std::string DetailTypeUrl(const google::protobuf::Message& detail);

// INVALID_ARGUMENT with `message`, and a BadRequest field violation for `field` (a path in the
// request, e.g. "outputs.embeddings[0].pooling") whose description is `message`.
absl::Status InvalidField(const std::string& field, const std::string& message);

// An INVALID_ARGUMENT `status` with a BadRequest violation for `field` added (description = its
// message). Other codes, and statuses that already name a field, are returned unchanged.
absl::Status WithFieldViolation(absl::Status status, const std::string& field);

// RESOURCE_EXHAUSTED for a limit the request can never pass as sent: ErrorInfo{reason, limit,
// value} and a PreconditionFailure of type "SIZE_LIMIT" on `subject` (a request path).
absl::Status SizeLimitError(const std::string& reason, const std::string& subject,
                            const std::string& message, int64_t value, int64_t limit);

// RESOURCE_EXHAUSTED for a tenant quota that frees as the tenant's jobs end: ErrorInfo{reason,
// limit, value}, QuotaFailure on "tenant:<tenant>" and RetryInfo{retry_after}.
absl::Status TenantQuotaError(const std::string& reason, const std::string& tenant,
                              const std::string& message, int64_t value, int64_t limit,
                              absl::Duration retry_after);

}  // namespace evo2::svc
