#include "status_details.h"

#include <string>

#include "absl/strings/match.h"
#include "google/rpc/status.pb.h"

namespace evo2::svc {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  google::rpc::Status details;
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    // Only google.rpc messages: other payloads (if a library ever adds one) are internal.
    if (!absl::StartsWith(url, "type.googleapis.com/google.rpc.")) return;
    auto* any = details.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(payload));
  });
  const auto code = static_cast<grpc::StatusCode>(s.code());
  if (details.details_size() == 0) return grpc::Status(code, std::string(s.message()));
  details.set_code(static_cast<int32_t>(s.code()));
  details.set_message(std::string(s.message()));
  return grpc::Status(code, std::string(s.message()), details.SerializeAsString());
}

}  // namespace evo2::svc
