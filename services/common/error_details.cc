#include "error_details.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace evo2::svc {
namespace {

void Put(absl::Status& status, const google::protobuf::Message& detail) {
  status.SetPayload(DetailTypeUrl(detail), absl::Cord(detail.SerializeAsString()));
}

google::rpc::ErrorInfo Info(const std::string& reason, int64_t value, int64_t limit) {
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain(kErrorDomain);
  (*info.mutable_metadata())["value"] = absl::StrCat(value);
  (*info.mutable_metadata())["limit"] = absl::StrCat(limit);
  return info;
}

}  // namespace

std::string DetailTypeUrl(const google::protobuf::Message& detail) {
  return absl::StrCat("type.googleapis.com/", detail.GetDescriptor()->full_name());
}

absl::Status InvalidField(const std::string& field, const std::string& message) {
  return WithFieldViolation(absl::InvalidArgumentError(message), field);
}

absl::Status WithFieldViolation(absl::Status status, const std::string& field) {
  google::rpc::BadRequest bad;
  const std::string url = DetailTypeUrl(bad);
  if (!absl::IsInvalidArgument(status) || status.GetPayload(url).has_value()) return status;
  auto* v = bad.add_field_violations();
  v->set_field(field);
  v->set_description(std::string(status.message()));
  Put(status, bad);
  return status;
}

absl::Status SizeLimitError(const std::string& reason, const std::string& subject,
                            const std::string& message, int64_t value, int64_t limit) {
  absl::Status status = absl::ResourceExhaustedError(message);
  Put(status, Info(reason, value, limit));
  google::rpc::PreconditionFailure failure;
  auto* v = failure.add_violations();
  v->set_type("SIZE_LIMIT");
  v->set_subject(subject);
  v->set_description(message);
  Put(status, failure);
  return status;
}

absl::Status TenantQuotaError(const std::string& reason, const std::string& tenant,
                              const std::string& message, int64_t value, int64_t limit,
                              absl::Duration retry_after) {
  absl::Status status = absl::ResourceExhaustedError(message);
  Put(status, Info(reason, value, limit));
  google::rpc::QuotaFailure quota;
  auto* v = quota.add_violations();
  v->set_subject(absl::StrCat("tenant:", tenant));
  v->set_description(message);
  Put(status, quota);
  google::rpc::RetryInfo retry;
  const int64_t ms = absl::ToInt64Milliseconds(retry_after);
  retry.mutable_retry_delay()->set_seconds(ms / 1000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  Put(status, retry);
  return status;
}

}  // namespace evo2::svc
