// The HTTP face of a service error: the gRPC code → HTTP status mapping of google.api's
// HTTP rules (the table grpc-gateway uses, google/rpc/code.proto comments), and the error body,
// a google.rpc.Status in the proto3 JSON mapping: {"code": 3, "message": "...", "details":
// [{"@type": "type.googleapis.com/google.rpc.BadRequest", ...}]}.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace evo2::svc {

// 200 for OK, 400/401/403/404/409/429/499/500/501/503/504 for the others.
int HttpStatusFromCode(absl::StatusCode code);

// google.rpc.Status JSON of `status`, its google.rpc payloads (error_details.h) as `details`.
std::string ErrorJson(const absl::Status& status);

}  // namespace evo2::svc
