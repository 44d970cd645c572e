#include "http_errors.h"

#include "absl/strings/match.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace evo2::svc {

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;  // client closed request
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

std::string ErrorJson(const absl::Status& status) {
  google::rpc::Status body;
  body.set_code(static_cast<int32_t>(status.code()));
  body.set_message(std::string(status.message()));
  google::rpc::Status with_details = body;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (!absl::StartsWith(url, "type.googleapis.com/google.rpc.")) return;  // internal payloads
    auto* any = with_details.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(payload));
  });
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;  // "code": 0 for OK (the end of an event stream)
  std::string json;
  if (google::protobuf::util::MessageToJsonString(with_details, &json, opts).ok()) return json;
  // A detail type this binary cannot print: the code and message still reach the client.
  json.clear();
  (void)google::protobuf::util::MessageToJsonString(body, &json, opts);
  return json;
}

}  // namespace evo2::svc
