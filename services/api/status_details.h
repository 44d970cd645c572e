// absl::Status → grpc::Status, the one place where the service's error details reach the wire:
// the code and message carry over (the numbers are the same), and every google.rpc payload of
// the status (services/common/error_details.h) is packed into a google.rpc.Status sent in the
// `grpc-status-details-bin` trailer, which standard gRPC clients decode.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace evo2::svc {

grpc::Status ToGrpc(const absl::Status& s);

}  // namespace evo2::svc
